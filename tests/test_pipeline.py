"""Heterogeneous pipelines: the greedy fill + binary search against every split point, the
cluster graph, and bad cluster files."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import ROOT, assert_input_error, run_cli

from planner import profile
from planner.catalog import find_gpu
from planner.costs.kv_cache import VLLM_BLOCK
from planner.costs.vllm import RankCosts
from planner.hardware.topology import Cluster, Node
from planner.sizing.pipeline import _groups, best_pipeline


def exhaustive_blocks(profile, cluster, tp, utilization=0.9, max_num_seqs=256):
    """Best KV blocks over every machine order and every split of the layers into stages."""
    costs = RankCosts(profile)
    units = profile.spec.units
    layers = [i for i, u in enumerate(units) if u.kind == "decoder_layer"]
    pre = [i for i in range(len(units)) if i < layers[0]]
    post = [i for i in range(len(units)) if i > layers[-1]]
    groups = _groups(cluster, tp, utilization)
    best = -1
    for order in itertools.permutations(sorted(groups)):
        stages = [st for name in order for st in groups[name]]
        k = len(stages)
        w = costs.weights(tp, own_head=k > 1)
        kv = costs.kv_per_token(tp)
        for cuts in itertools.combinations(range(1, len(layers)), k - 1):
            bounds = (0, *cuts, len(layers))
            blocks = None
            for s, st in enumerate(stages):
                idx = (pre if s == 0 else []) + layers[bounds[s]:bounds[s + 1]] + (post if s == k - 1 else [])
                act = max(costs.activation(tp, st.batched)[i] for i in idx)
                if s == k - 1:
                    act = max(act, max_num_seqs * profile.spec.vocab_size * 4)
                room = st.budget_bytes - sum(w[i] for i in idx) - act
                per_block = VLLM_BLOCK * sum(kv[i] for i in idx)
                b = room // per_block if room >= 0 else -1
                blocks = b if blocks is None else min(blocks, b)
            best = max(best, blocks)
    return best


@pytest.mark.parametrize("machines, tp", [
    ((("a", "T4", 2), ("b", "L4", 1)), 1),
    ((("a", "RTX4090", 1), ("b", "RTX3090", 1), ("c", "T4", 1)), 1),
    ((("a", "A10G", 2), ("b", "L4", 2)), 2),
])
def test_greedy_partition_equals_exhaustive(machines, tp):
    cluster = Cluster(tuple(Node(n, find_gpu(g), c, 25.0) for n, g, c in machines))
    prof = profile("Llama-3.2-1B", engine="vllm", dtype="fp16")
    plan = best_pipeline(prof, cluster, tp)
    assert plan is not None
    assert plan.kv_blocks == exhaustive_blocks(prof, cluster, tp)
    assert sum(plan.partition) == 16 and min(plan.partition) >= 1


def test_bigger_cards_get_more_layers():
    cluster = Cluster((Node("big", find_gpu("A100-80GB"), 4, 50.0), Node("small", find_gpu("L40S"), 4, 25.0)))
    plan = best_pipeline(profile("Llama-3.1-70B", engine="vllm"), cluster, 4)
    by_machine = dict(zip((s.machine for s in plan.stages), plan.partition, strict=True))
    assert by_machine["big"] > by_machine["small"]


def test_without_a_layout_each_machine_is_one_island():
    """No islands given: a machine's GPUs form one island on the card's own link (NCCL busbw from
    the speed model: 450 GB/s on NVLink 4), and the slower network card joins two machines."""
    cluster = Cluster((Node("a", find_gpu("H100"), 8, 50.0), Node("b", find_gpu("L40S"), 4, 25.0)))
    islands = cluster.islands()
    assert [len(i) for i in islands] == [8, 4]
    assert cluster.link("a/0", "b/0")[1] == 25.0 and cluster.link("a/0", "a/1")[1] == 450.0
    assert cluster.link("a/0", "a/7") == ("nvlink4", 450.0) and cluster.link("a/3", "b/1")[0] == "network"


def _two_socket_box(islands):
    from planner.hardware.topology import HostLayout, LayoutSpec

    layout = HostLayout.of(LayoutSpec(islands=islands), 8, "pcie-switch", "nodes[box]") if islands else None
    return Cluster((Node("box", find_gpu("L40S"), 8, 50.0, layout),))


def test_islands_that_are_not_the_machine_change_the_answer():
    """An 8 x L40S server whose GPUs sit under two CPU sockets (islands 0-3 and 4-7): no tensor-
    parallel group of 8 exists, groups of 4 stay on one socket, and the pipeline's hop between the
    two islands is priced by the link between sockets. As one island, tp 8 is a pipeline."""
    prof = profile("Llama-3.1-70B", engine="vllm", prompt_tokens=8192)
    split, whole = _two_socket_box([[0, 1, 2, 3], [4, 5, 6, 7]]), _two_socket_box(None)
    assert best_pipeline(prof, whole, 8) is not None and best_pipeline(prof, split, 8) is None
    assert {m: [s.first_gpu for s in st] for m, st in _groups(split, 4, 0.9).items()} == {"box": [0, 4]}
    plan = best_pipeline(prof, split, 4)
    hops = split.hops([(s.machine, s.first_gpu) for s in plan.stages], 1_000_000)
    assert [(a, b, kind) for a, b, kind, _, _ in hops] == [("box/0", "box/4", "pcie-cross-socket")]
    assert whole.hops([("box", 0), ("box", 4)], 1_000_000) == []  # one island: no hop leaves it
    assert split.link("box/0", "box/3") == ("pcie-switch", 32.0) and split.link("box/1", "box/6") == ("pcie-cross-socket", 12.0)


def test_an_island_layout_must_hold_every_gpu_once(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("nodes:\n  - {name: box, gpus: 4xL40S, islands: [[0, 1], [1, 2, 3]]}\n")
    assert_input_error(run_cli("size", "Llama-3.2-1B", "--cluster", str(path)), "nodes[box].islands")
    path.write_text("nodes:\n  - {name: box, gpus: 4xL40S, islands: [[0, 1], [2, 3]], between_islands: warp}\n")
    assert_input_error(run_cli("size", "Llama-3.2-1B", "--cluster", str(path)), "nodes[box].between_islands", "warp")


def test_cluster_cli_example():
    r = run_cli("size", "Llama-3.1-70B", "--cluster", str(ROOT / "examples" / "cluster-mixed.yaml"), "--context", "32768",
                "--concurrency", "16", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    best = doc["best"]
    assert best["tensor_parallel_size"] * best["pipeline_parallel_size"] <= 12
    assert sum(best["layer_partition"]) == 80
    assert any("VLLM_PP_LAYER_PARTITION" in line for line in best["launch"])


@pytest.mark.parametrize("text, field", [
    ("nodes: []\n", "nodes"),
    ("nodes:\n  - {name: a, gpus: 8xH100, speed: 3}\n", "unknown key"),
    ("nodes:\n  - {name: a, gpus: 8xH1000}\n", "did you mean"),
    ("nodes:\n  - {name: a, gpus: 8xH100}\n  - {name: a, gpus: 2xL4}\n", "unique"),
    ("nodes:\n  - {name: a, gpus: 99xH100}\n", "gpus"),
    ("network_gb_per_s: -1\nnodes:\n  - {name: a, gpus: 8xH100}\n", "network_gb_per_s"),
    ("nodes: [\n", "YAML"),
])
def test_bad_cluster_files(tmp_path, text, field):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert_input_error(run_cli("size", "Llama-3.1-70B", "--cluster", str(path)), field)


@pytest.mark.slow
def test_machine_orders_by_dynamic_program_equal_every_order():
    """Five machines of three kinds: 120 orders x every split of 16 layers into 5 stages."""
    machines = (("a", "T4", 1), ("b", "L4", 1), ("c", "T4", 1), ("d", "RTX4090", 1), ("e", "L4", 1))
    cluster = Cluster(tuple(Node(n, find_gpu(g), c, 25.0) for n, g, c in machines))
    prof = profile("Llama-3.2-1B", engine="vllm", dtype="fp16")
    plan = best_pipeline(prof, cluster, 1)
    assert plan is not None
    assert plan.kv_blocks == exhaustive_blocks(prof, cluster, 1)
    assert sorted(s.machine for s in plan.stages) == ["a", "b", "c", "d", "e"]


def test_one_stage_rule_for_units_around_and_between_layers():
    """Units before the first layer go to the first stage, after the last to the last, and a unit
    between two layers goes with the layer before it (hand-worked on a small sequence)."""
    from types import SimpleNamespace

    from planner.costs.parallel import stage_of_units

    kinds = ["vision", "embedding", "decoder_layer", "other", "decoder_layer", "decoder_layer", "decoder_layer", "norm", "head"]
    units = [SimpleNamespace(kind=k) for k in kinds]
    assert stage_of_units(units, [2, 2]) == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert stage_of_units(units, [1, 3]) == [0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert stage_of_units(units, [1, 1, 1, 1]) == [0, 0, 0, 0, 1, 2, 3, 3, 3]


def test_tensor_parallel_groups_come_from_the_graphs_fast_link_islands():
    """A group never spans the network: without a layout each machine is one island, and each
    gives len // tp groups of consecutive GPUs; the link between machines is the slower card."""
    from planner.sizing.pipeline import _groups

    cluster = Cluster((Node("big", find_gpu("A100-80GB"), 4, 50.0), Node("small", find_gpu("L40S"), 2, 25.0)))
    assert [sorted(i) for i in cluster.islands()] == [["big/0", "big/1", "big/2", "big/3"], ["small/0", "small/1"]]
    assert cluster.link("big/0", "small/0") == ("network", 25.0)
    assert {m: [s.first_gpu for s in st] for m, st in _groups(cluster, 2, 0.9).items()} == {"big": [0, 2], "small": [0]}
    assert {m: [s.first_gpu for s in st] for m, st in _groups(cluster, 4, 0.9).items()} == {"big": [0]}
    assert _groups(cluster, 8, 0.9) == {}


@pytest.mark.parametrize(("count", "tp"), [(1, 1), (2, 2), (4, 2)])
def test_a_one_machine_cluster_has_the_kv_cache_of_the_same_vllm_layout(count, tp):
    """``size --cluster`` over one machine and ``size --have`` on its GPUs use one stage budget
    (vLLM's share minus CUDA context, NCCL only when the engine has more than one rank, the
    sampler's logits on the last stage): the same KV tokens for the same tp x pp."""
    from planner.costs.vllm import vllm_layout

    prof = profile("Meta-Llama-3-8B", engine="vllm", prompt_tokens=8192)
    h100 = find_gpu("H100")
    plan = best_pipeline(prof, Cluster((Node("box", h100, count, 50.0),)), tp)
    layout = vllm_layout(prof, h100, tp, count // tp, partition=list(plan.partition))
    assert plan.kv_tokens == layout.kv_tokens > 0

"""Sizing against brute force and vLLM's own rules: pipeline partitions as vLLM's tests state
them, tensor-parallel sharding that adds back up to the model, KV capacity by vLLM's formula,
and the cheapest configuration equal to exhaustive enumeration of replica counts."""

from __future__ import annotations

import json

import pytest
from conftest import assert_input_error, run_cli

from planner import profile
from planner.catalog import find_gpu
from planner.costs.kv_cache import VLLM_BLOCK
from planner.costs.parallel import check_tp, kv_heads_per_rank, pad_vocab, pp_partition
from planner.costs.vllm import vllm_layout
from planner.errors import InputError
from planner.sizing.fleet import exhaustive, make_candidates, size


@pytest.mark.parametrize("layers, pp, expected", [
    # vLLM's tests/distributed/test_pipeline_partition.py::test_uneven_auto_partition
    (2, 2, [1, 1]), (3, 2, [2, 1]), (3, 3, [1, 1, 1]), (4, 3, [1, 2, 1]), (5, 3, [2, 2, 1]),
    (20, 4, [5, 5, 5, 5]), (80, 3, [27, 27, 26]),
])
def test_pipeline_partition_matches_vllm(layers, pp, expected):
    assert pp_partition(layers, pp) == expected


def test_custom_partition_is_checked():
    assert pp_partition(22, 4, [5, 6, 5, 6]) == [5, 6, 5, 6]
    for bad in ([5, 5, 5], [5, 5, 5, 5]):
        with pytest.raises(InputError):
            pp_partition(22, 4, bad)


def test_kv_heads_split_or_replicate_as_vllm_does():
    assert kv_heads_per_rank(8, 2) == 4 and kv_heads_per_rank(8, 8) == 1 and kv_heads_per_rank(8, 16) == 1
    prof = profile("Meta-Llama-3-8B")
    attn = next(u.attention for u in prof.spec.units if u.attention)
    assert check_tp(attn, 8) is None and check_tp(attn, 16) is None  # 32 heads, 8 KV heads replicated twice
    assert "divide" in check_tp(attn, 3)


def test_tensor_parallel_ranks_add_up_to_the_model():
    """bf16 Llama-3-8B: every split tensor divides exactly, so tp ranks hold the model plus the
    replicated parts (norms) and the vocabulary padding, and nothing else."""
    prof = profile("Meta-Llama-3-8B", dtype="bf16", engine="vllm")
    whole = vllm_layout(prof, find_gpu("H100"), 1, 1).stages[0].weights_bytes
    assert whole == prof.weights_bytes
    norms = sum(u.weights_bytes for u in prof.units if u.kind == "norm") + 32 * 2 * 4096 * 2
    for tp in (2, 4, 8):
        rank = vllm_layout(prof, find_gpu("H100"), tp, 1).stages[0].weights_bytes
        rotary = sum(u.weights_bytes for u in prof.units if u.kind == "rotary")
        vocab_pad = 2 * (pad_vocab(128256) - 128256) * 4096 * 2 // tp
        assert rank * tp == whole - norms - rotary + tp * (norms + rotary) + vocab_pad


def test_kv_capacity_is_vllms_formula():
    """total x 0.9 - weights - activations - non-torch, in 16-token blocks of 32 layers x 8 KV heads
    x 128 x 2 (K, V) x 2 bytes."""
    prof = profile("Meta-Llama-3-8B", dtype="bf16", engine="vllm")
    gpu = find_gpu("H100")
    stage = vllm_layout(prof, gpu, 1, 1).stages[0]
    per_token = 32 * 8 * 128 * 2 * 2
    assert stage.kv_bytes_per_token == per_token
    free = int(gpu.memory_bytes * 0.9) - stage.weights_bytes - stage.activation_bytes - stage.non_torch_bytes
    assert vllm_layout(prof, gpu, 1, 1).kv_tokens == free // (VLLM_BLOCK * per_token) * VLLM_BLOCK


def test_mla_cache_is_the_576_value_latent_on_every_rank():
    prof = profile("DeepSeek-R1", engine="vllm")
    for tp in (1, 8):
        stage = vllm_layout(prof, find_gpu("H200"), tp, 1).stages[0]
        assert stage.kv_bytes_per_token == 61 * 576 * 2  # bf16 KV cache, not divided by tp


@pytest.mark.parametrize("model, types, context, concurrency, objective", [
    ("Meta-Llama-3-8B", ["RTX4090", "L4", "A100-80GB"], 8192, 24, "price"),
    ("Meta-Llama-3-8B", ["RTX4090", "T4"], 8192, 12, "hourly"),
    ("Qwen2.5-7B", ["L40S", "A10G", "RTX3090"], 16384, 20, "gpus"),
    ("Mixtral-8x7B-v0.1", ["A100-80GB", "RTX4090", "L40S"], 4096, 8, "price"),
])
def test_sizing_equals_exhaustive_enumeration(model, types, context, concurrency, objective):
    prof = profile(model, engine="vllm")
    gpus = [find_gpu(t) for t in types]
    answer = size(prof, gpus, context, concurrency, objective, max_gpus=16)
    assert answer.status == "optimal"
    cands = [c for c in make_candidates(prof, gpus, context, concurrency, max_gpus=16, objective=objective)
             if c.cost(objective) != float("inf")]
    best = exhaustive(cands, concurrency, objective, 16)
    assert best is not None
    got = (sum(n * c.cost(objective) for c, n in answer.choice), sum(n * c.gpus for c, n in answer.choice))
    assert got == pytest.approx(best)
    assert sum(n * c.unit_seqs for c, n in answer.choice) >= concurrency


def test_size_cli_json_contract():
    r = run_cli("size", "Llama-3.1-70B", "--dtype", "bf16", "--context", "32768", "--concurrency", "16", "--objective",
                "hourly", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for key in ("status", "objective", "gpus", "price_usd_per_hour", "tensor_parallel_size", "pipeline_parallel_size",
                "layer_partition", "devices", "alternatives"):
        assert key in doc
    assert doc["status"] == "optimal"
    assert sum(g["count"] for g in doc["gpus"]) == len(doc["devices"])
    d = doc["devices"][0]
    assert {"name", "capacity_bytes", "weights_bytes", "kv_bytes", "activation_bytes", "reserve_bytes"} <= set(d)
    assert all(x["weights_bytes"] + x["kv_bytes"] + x["activation_bytes"] <= x["capacity_bytes"] for x in doc["devices"])
    assert doc["replicas"][0]["vllm"]["command"].startswith("vllm serve meta-llama/Llama-3.1-70B ")  # the repo id, not the alias
    types = [a["type"] for a in doc["alternatives"]]
    assert len(types) == len(set(types)) >= 10


def test_size_infeasible_exits_3():
    r = run_cli("size", "Llama-3.1-405B", "--gpu-type", "T4", "--max-gpus", "4", "--context", "8192")
    assert r.returncode == 3 and "INFEASIBLE" in r.stdout


@pytest.mark.parametrize("model, gpu, count, concurrency", [("Llama-3.1-70B", "H100", 4, 16), ("Meta-Llama-3-8B", "RTX4090", 2, 4),
                                                           ("Mixtral-8x7B-v0.1", "A100-80GB", 2, 8)])
def test_longest_context_agrees_with_sizing(model, gpu, count, concurrency):
    """The capacity answer (longest context these GPUs serve) is exactly the edge where sizing
    on the same GPUs flips from feasible to infeasible, or the model's own limit when the GPUs
    would hold more (Meta-Llama-3-8B's 8,192 positions on two RTX 4090s)."""
    from planner.sizing.capacity import capacity

    prof = profile(model, engine="vllm")
    g = find_gpu(gpu)
    longest = capacity("as given", prof, g, count, 4096, concurrency).longest[0]
    assert size(prof, [g], longest, concurrency, "gpus", max_gpus=count).status == "optimal"
    if longest < prof.spec.max_model_len:
        assert size(prof, [g], longest + 1, concurrency, "gpus", max_gpus=count).status == "infeasible"
    else:
        assert longest == prof.spec.max_model_len


def test_have_cli_lists_precisions():
    r = run_cli("size", "Llama-3.1-70B", "--have", "4xH100", "--context", "32768", "--concurrency", "16", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = {p["precision"]: p for p in doc["precisions"]}
    assert rows["fp8 KV cache"]["longest_context"]["value"] > rows["as given"]["longest_context"]["value"]
    assert rows["fp8 weights + fp8 KV"]["weights_bytes"] < rows["as given"]["weights_bytes"]


@pytest.mark.parametrize("args, field", [
    (["--have", "0xH100"], "have"), (["--have", "4xH1000"], "did you mean"), (["--context", "0"], "context"),
    (["--concurrency", "-2"], "concurrency"), (["--gpu-memory-utilization", "1.5"], "gpu-memory-utilization"),
    (["--gpu-type", "Foo"], "gpu"), (["--max-gpus", "0"], "max-gpus"), (["--target-tokens-per-s", "-5"], "target"),
])
def test_size_bad_input_is_one_line_exit_2(args, field):
    assert_input_error(run_cli("size", "Llama-3.1-70B", *args), field)


def test_latency_and_throughput_targets_are_met():
    prof = profile("Meta-Llama-3-8B", engine="vllm")
    types = [find_gpu(t) for t in ("RTX4090", "L4", "H100", "A100-80GB")]
    loose = size(prof, types, 4096, 8, "hourly")
    fast = size(prof, types, 4096, 8, "hourly", max_step_ms=10)
    assert all(c.speed.decode_step_s * 1e3 <= 10 for c, _ in fast.choice)
    assert fast.objective_value >= loose.objective_value
    busy = size(prof, types, 4096, 8, "hourly", target_tokens_per_s=20000)
    assert sum(c.tokens_per_s * n for c, n in busy.choice) >= 20000
    assert busy.objective_value > loose.objective_value


def test_single_node_answers_carry_an_accelerate_device_map():
    r = run_cli("size", "Meta-Llama-3-8B", "--context", "8192", "--concurrency", "8", "--gpu-type", "RTX4090", "--json")
    replica = json.loads(r.stdout)["replicas"][0]
    hf = replica["accelerate"]
    assert hf["status"] == "optimal" and hf["sequences"] == 8
    assert set(hf["device_map"].values()) <= set(range(replica["gpus_per_unit"]))


def test_have_where_nothing_fits_exits_3():
    r = run_cli("size", "Llama-3.1-405B", "--have", "1xRTX4090", "--context", "4096", "--concurrency", "1")
    assert r.returncode == 3 and r.stdout  # the table says what was tried; the status says it does not fit
    assert run_cli("size", "Meta-Llama-3-8B", "--have", "1xH100", "--context", "4096", "--concurrency", "1").returncode == 0


def test_a_unit_is_priced_as_its_hosts_and_gpus():
    """A purchase unit costs its hosts (hosts.yaml, without GPUs) plus every GPU it buys (all 8 of an
    HGX baseboard even when the layout uses 4); an unpriced GPU makes the unit unpriceable, never a
    partial sum; a rental unit costs its instances per hour."""
    from dataclasses import replace

    from planner.hardware.prices import price_of

    prof = profile("Meta-Llama-3-8B", engine="vllm")
    h100 = find_gpu("H100")
    assert price_of(h100, 8) == (h100.price_usd * 8, round(h100.price_usd_per_hour * 8, 4))
    units = make_candidates(prof, [h100], 8192, 1, max_gpus=8)
    tp4 = next(c for c in units if c.layout.tp == 4 and c.offer.name == "HGX-8-Hopper")
    assert (tp4.gpus, tp4.replicas, tp4.hosts) == (8, 2, 1)
    assert tp4.purchase_usd == 70_000 + 8 * 25_000
    assert replace(tp4, layout=replace(tp4.layout, gpu=replace(h100, price_usd=None))).cost("price") == float("inf")
    rent = next(c for c in make_candidates(prof, [h100], 8192, 1, max_gpus=8, objective="hourly") if c.offer.name == "p5.48xlarge")
    assert rent.usd_per_hour == 55.04 and rent.purchase_usd is None

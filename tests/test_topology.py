"""The topology is read by placement and sizing: islands that are not the machine change the
answer (the device_map's GPUs, the layouts a host offers), and the choice is checked against
every permutation of the GPUs."""

from __future__ import annotations

import itertools

import pytest

import planner
from planner.catalog import find_gpu
from planner.hardware.hosts import host_offers
from planner.hardware.topology import HostLayout, LayoutSpec
from planner.placement.gpu_order import hops
from planner.placement.loads import objective_values
from planner.placement.verify import verify


def _plan(islands, link="nvlink3", gpus="4xRTX3090", model="Llama-2-13b-hf"):
    return planner.plan(model, gpus=[gpus], dtype="fp16", prompt_tokens=1024, islands=islands, island_link=link)


def test_bridged_pairs_that_cuda_numbers_apart_get_the_model():
    """Four RTX 3090s bridged 0-2 and 1-3 (NVLink bridges on alternate slots): a model that needs
    two cards goes on 0 and 2, over the bridge, not on 0 and 1 through the host; every objective
    the solver proved is the same."""
    plain, bridged = _plan(None, link=None), _plan("0,2;1,3")
    assert set(plain.device_map.values()) == {0, 1} and set(bridged.device_map.values()) == {0, 2}
    assert plain.objectives == bridged.objectives == objective_values(bridged.problem, bridged.assignment)
    assert not verify(bridged.problem, bridged.assignment)
    assert [(h.source, h.target, h.link) for h in bridged.hops] == [(0, 2, "nvlink3")]
    assert plain.hops == ()  # no islands given: nothing is priced or moved


def test_without_islands_nothing_moves_and_one_island_prices_its_link():
    one = _plan("0,1,2,3")
    assert set(one.device_map.values()) == {0, 1} and [h.link for h in one.hops] == ["nvlink3"]


@pytest.mark.parametrize("islands", ["0,1;2,3", "0,2;1,3", "0,3;1,2", "0;1,2,3", "0,1,2;3"])
def test_the_chosen_gpus_cost_least_of_every_permutation(islands):
    """Brute force over every assignment of the plan's parts to the four GPUs."""
    p = _plan(islands, model="Llama-2-13b-hf")
    layout = HostLayout.of(LayoutSpec(islands=planner.api.parse_islands(islands), island_link="nvlink3"), 4, "nvlink3", "")
    w = p.profile.workload
    nbytes = w.batch * w.prompt_tokens * p.profile.spec.hidden_size * 2

    def total(assignment):
        return sum(h.seconds for h in hops(p.problem, assignment, layout, nbytes))

    used = sorted(set(p.assignment))
    best = min(total(tuple(dict(zip(used, perm, strict=True))[d] for d in p.assignment))
               for perm in itertools.permutations(range(4), len(used)))
    assert total(p.assignment) == pytest.approx(best)


def test_a_two_socket_server_offers_no_tensor_parallel_group_across_its_sockets():
    split = next(o for o in host_offers() if o.name == "PCIe-server-8" and o.gpu.name == "L40S")
    assert split.host.islands == ((0, 1, 2, 3), (4, 5, 6, 7))
    assert split.host.tp_groups(8) == [] and split.host.tp_groups(4) == [(0, 1, 2, 3), (4, 5, 6, 7)]
    hgx = next(o for o in host_offers() if o.name == "HGX-8-Hopper")
    assert hgx.host.tp_groups(8) == [tuple(range(8))]


def test_sizing_on_islands_changes_the_layout_and_prices_the_hop():
    """The same 70B purchase on 8 x L40S: as one island, tp 8 on one host; split over two sockets,
    tp 4 x pp 2 with one hop between the islands, priced by the link between sockets."""
    from dataclasses import replace

    from planner.costs.profile import profile as make_profile
    from planner.costs.vllm import vllm_layout
    from planner.model.load import load_model
    from planner.sizing.candidates import _units

    prof = make_profile(load_model("Llama-3.1-70B"), planner.Workload(engine="vllm", prompt_tokens=8192))
    split = next(o for o in host_offers() if o.name == "PCIe-server-8" and o.gpu.name == "L40S")
    whole = replace(split, layout=None)
    l40s = find_gpu("L40S")
    fabrics = []

    def speed_of(fabric):
        fabrics.append(fabric)
        return None

    tp8, tp4 = vllm_layout(prof, l40s, 8, 1), vllm_layout(prof, l40s, 4, 2)
    assert _units(tp8, 1, split, speed_of) == [] and len(_units(tp8, 1, whole, speed_of)) == 1
    fabrics.clear()
    _units(tp4, 1, split, speed_of)
    assert [(f.island_hops, f.between) for f in fabrics] == [(1, "pcie-cross-socket")]
    from planner.costs.roofline import replica_speed

    slow = replica_speed(prof, tp4, 4, 8192, fabrics[0])
    fast = replica_speed(prof, tp4, 4, 8192, replace(fabrics[0], island_hops=0, between=None))
    assert slow.decode_step_s > fast.decode_step_s


def test_islands_in_a_plan_file_and_their_errors(tmp_path):
    from conftest import assert_input_error, run_cli

    path = tmp_path / "s.yaml"
    path.write_text("model: Llama-2-13b-hf\nworkload: {dtype: fp16, prompt_tokens: 1024}\n"
                    "inventory: {gpus: [4xRTX3090], islands: [[0, 2], [1, 3]], island_link: nvlink3}\n")
    r = run_cli("plan", "--file", str(path), "--json")
    import json

    doc = json.loads(r.stdout)
    assert r.returncode == 0 and set(doc["device_map"].values()) == {0, 2} and doc["hops"][0]["link"] == "nvlink3"
    assert_input_error(run_cli("plan", "--file", str(path), "--islands", "0,2;1"), "islands", "exactly once")
    assert_input_error(run_cli("plan", "Llama-2-13b-hf", "--cpu", "64GiB", "--islands", "0,1"), "islands")


def test_the_link_between_islands_is_never_faster_than_inside_them():
    """Cards without peer-to-peer stage every copy through host memory, across sockets too."""
    layout = HostLayout.of(LayoutSpec(islands=[[0, 1], [2, 3]]), 4, "pcie-no-p2p", "")
    assert layout.between == "pcie-no-p2p"
    assert HostLayout.of(LayoutSpec(islands=[[0, 1], [2, 3]]), 4, "nvlink3", "").between == "pcie-cross-socket"


def test_sixteen_cards_in_two_islands_cross_once():
    """Interleaved islands (evens, odds): the 405B int4 plan crosses between them once, at once."""
    p = planner.plan("Llama-3.1-405B", gpus=["16xRTX4090"], cpu="64GiB", quant="int4", island_link="nvlink3",
                     islands=";".join(",".join(str(g) for g in range(k, 16, 2)) for k in (0, 1)))
    assert sum(h.link == "pcie-cross-socket" for h in p.hops) == 1 and len(p.hops) >= 8


def test_two_gpu_types_are_placed_no_worse_than_the_solver_ordered_them():
    mixed = planner.plan("Meta-Llama-3-8B", gpus=["2xRTX4090", "2xRTX3090"], dtype="bf16", prompt_tokens=8192, batch=4,
                         islands="0,2;1,3", island_link="nvlink3")
    plain = planner.plan("Meta-Llama-3-8B", gpus=["2xRTX4090", "2xRTX3090"], dtype="bf16", prompt_tokens=8192, batch=4,
                         islands="0,1,2,3", island_link="nvlink3")
    assert mixed.objectives == plain.objectives
    assert not verify(mixed.problem, mixed.assignment)

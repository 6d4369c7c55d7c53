"""The solver's shortcuts (placement/screen.py) against exhaustive search: a problem they call
infeasible has no valid plan, and a plan they return (a host plan, or the filled plan CP-SAT
starts from) is valid and of the kind the solver may answer (a GPU in use whenever there are
GPUs)."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from test_solver_properties import SETTINGS, candidates, problems

from planner.hardware.inventory import Device
from planner.placement.problem import Item, Problem
from planner.placement.screen import execution_bound, filled_plan, proven_infeasible, simple_plan
from planner.placement.solver import feasible
from planner.placement.verify import verify


@SETTINGS
@given(problems())
def test_screen_agrees_with_exhaustive_search(problem):
    exists = any(not verify(problem, a) for a in candidates(problem))
    if proven_infeasible(problem):
        assert not exists
    for plan in (simple_plan(problem), filled_plan(problem)):
        if plan is not None:
            assert verify(problem, plan) == []
            assert not problem.gpu_indices or any(d in problem.gpu_indices for d in plan)
    assert feasible(problem, 5.0)[0] == exists


def _unpinned(problem: Problem) -> Problem:
    every = tuple(range(len(problem.devices)))
    return replace(problem, items=tuple(replace(it, allowed=every, in_sequence=True) for it in problem.items))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(problems().map(_unpinned))
def test_the_execution_bound_never_rules_out_a_plan(problem):
    """Without pins (where the bound applies) every problem it calls infeasible has no valid plan."""
    if execution_bound(problem):
        assert not any(not verify(problem, a) for a in candidates(problem))


def _offload_problem(layer_bytes: int) -> Problem:
    """A 10-byte GPU with a 4-byte reserve and a 100-byte CPU; three layers of ``layer_bytes``
    weights, 1 byte of KV and 1 of activation each."""
    devices = (Device(0, "gpu", "g", 10, 4, 10.0), Device("cpu", "cpu", "cpu", 100))
    items = tuple(Item((i,), (f"layers.{i}",), layer_bytes, 1, 1, (0, 1)) for i in range(3))
    return Problem(items, devices, "gpus", tuple((0, layer_bytes) for _ in items))


def test_an_item_too_large_to_run_anywhere_is_named():
    """A layer of 5 bytes needs 5 + 1 + 1 = 7 bytes on the GPU that runs it, which holds 10 - 4 = 6
    (offloaded, it must be onloaded there): infeasible whatever the CPU holds."""
    reason = proven_infeasible(_offload_problem(5))
    assert reason == "layers.0 needs 7 bytes to run, more than the largest GPU holds (6 bytes)"
    assert not any(not verify(_offload_problem(5), a) for a in candidates(_offload_problem(5)))


def test_a_host_plan_is_found_when_the_gpu_only_executes():
    """Layers of 3 bytes: keeping the first on the GPU and running the other two from the CPU puts
    3 weights + 3 KV (its own and the two offloaded) + 1 activation + 3 onload buffer + 4 reserve
    = 14 bytes on the GPU; every other plan puts more there (all three on the GPU: 9 + 3 + 1 + 4 =
    17). So a 14-byte GPU has exactly that plan, and a 13-byte one none: the execution GPU's bound
    (all 3 KV, the 1 activation, the largest weights 3 and the smallest 3, the 4 reserve) is 14."""
    problem = _offload_problem(3)
    fits = replace(problem, devices=(replace(problem.devices[0], capacity_bytes=14), problem.devices[1]))
    assert simple_plan(fits) == (0, 1, 1)
    assert proven_infeasible(fits) is None
    short = replace(problem, devices=(replace(problem.devices[0], capacity_bytes=13), problem.devices[1]))
    assert proven_infeasible(short) == ("the execution GPU needs at least 14 bytes (KV cache, activations and onload "
                                        "room of what it runs, and its reserve), more than GPU 0 holds (13 bytes)")
    assert not any(not verify(short, a) for a in candidates(short))


def test_the_bound_counts_what_later_gpus_take():
    """Three 1-byte layers with 5, 0 and 6 bytes of KV; GPU 0 of 8 bytes. With GPU 1 of 6 bytes, it
    takes layer 0 (6) and GPU 0 holds layers 1-2 (2 + 6 = 8). With GPU 1 of 5 bytes no layer with
    KV fits there: GPU 0 holds all 11 bytes of KV and layers 0 and 2 (its own or onloaded: one of
    each, or both its own), 11 + 2 = 13 > 8; as the execution GPU, GPU 1 would hold even more."""
    def problem(cap1: int) -> Problem:
        devices = (Device(0, "gpu", "g", 8, 0, 10.0), Device(1, "gpu", "g", cap1, 0, 10.0), Device("cpu", "cpu", "cpu", 100))
        items = tuple(Item((i,), (f"layers.{i}",), 1, kv, 0, (0, 1, 2)) for i, kv in enumerate((5, 0, 6)))
        return Problem(items, devices, "gpus", tuple((0, 0, 1) for _ in items))

    assert execution_bound(problem(6)) is None
    assert not verify(problem(6), (1, 0, 0))
    assert execution_bound(problem(5)) == ("the execution GPU needs at least 13 bytes (KV cache, activations and "
                                           "onload room of what it runs, and its reserve), more than GPU 0 holds (8 bytes)")
    assert not any(not verify(problem(5), a) for a in candidates(problem(5)))


def test_only_the_search_tells_when_the_onload_room_is_what_is_missing():
    """Two 5-byte GPUs and three 3-byte layers: each GPU holds one layer, so the third is offloaded
    and the execution GPU needs room to onload it beside its own (6 > 5). No necessary condition
    fails (every bound counts the onload room or a layer of its own, not both), so CP-SAT decides."""
    devices = (Device(0, "gpu", "g", 5, 0, 10.0), Device(1, "gpu", "g", 5, 0, 10.0), Device("cpu", "cpu", "cpu", 100))
    items = tuple(Item((i,), (f"layers.{i}",), 3, 0, 0, (0, 1, 2)) for i in range(3))
    problem = Problem(items, devices, "gpus", tuple((0, 0, 1) for _ in items))
    assert proven_infeasible(problem) is None and simple_plan(problem) is None
    assert not any(not verify(problem, a) for a in candidates(problem))
    assert feasible(problem, 5.0)[0] is False


def test_the_filled_plan_offloads_only_what_the_gpus_cannot_hold():
    """Five layers of 10 bytes (1 byte of activation each), GPU 0 of 21 bytes and GPU 1 of 25, no
    reserve, a 100-byte CPU. GPU 1 takes layers 0-1 (20 + 1 = 21; a third would make 31). GPU 0,
    the execution GPU, runs the CPU's layers: room to onload one (10) and its activation (1)
    beside its own; it keeps layer 4 (10 + 1 + 10 = 21) and not layer 3 too (31), so layers 2-3
    go to the CPU. With a 14-byte GPU 0 it can keep nothing (21 > 14); then GPU 1 executes alone,
    keeping layer 4 and running layers 0-3 from the CPU (21 <= 25)."""
    def problem(cap0: int) -> Problem:
        devices = (Device(0, "gpu", "g", cap0, 0, 10.0), Device(1, "gpu", "g", 25, 0, 10.0), Device("cpu", "cpu", "cpu", 100))
        items = tuple(Item((i,), (f"layers.{i}",), 10, 0, 1, (0, 1, 2)) for i in range(5))
        return Problem(items, devices, "gpus", tuple((0, 0, 1) for _ in items))

    assert filled_plan(problem(21)) == (1, 1, 2, 2, 0)
    assert filled_plan(problem(14)) == (2, 2, 2, 2, 1)


def test_the_bound_counts_the_activation_of_the_layers_with_kv():
    """Three layers of 1 byte of weights, 2 of KV and a 10-byte activation; GPU 0 of 14 bytes, GPU 1
    of 13. A GPU that takes KV runs such a layer's activation, so GPU 1 has room for one layer (13 -
    10 = 3 bytes: 2 of KV), not the 13 bytes of KV a byte count gives it; GPU 0 then holds 4 bytes of
    KV, of two layers, so it runs one of those activations (10) and holds at least the least weights
    (1): 15 > 14. Every plan is indeed invalid (GPU 0 holds 16 at the least)."""
    devices = (Device(0, "gpu", "g", 14, 0, 10.0), Device(1, "gpu", "g", 13, 0, 10.0), Device("cpu", "cpu", "cpu", 100))
    items = tuple(Item((i,), (f"layers.{i}",), 1, 2, 10, (0, 1, 2)) for i in range(3))
    problem = Problem(items, devices, "gpus", tuple((0, 0, 1) for _ in items))
    assert execution_bound(problem) == ("the execution GPU needs at least 15 bytes (KV cache, activations and "
                                        "onload room of what it runs, and its reserve), more than GPU 0 holds (14 bytes)")
    assert not any(not verify(problem, a) for a in candidates(problem))


def test_a_long_context_that_cannot_fit_is_proven_without_search():
    """Llama-3.1-70B, 4 sequences of 32k + 512 on 8 L40S and 512 GiB of RAM: each layer runs a
    29 GiB activation, so a GPU holds 6 layers beside it and the execution GPU the KV cache of the
    32 that cannot go elsewhere; the screen proves it infeasible (no search) and says why."""
    from planner import profile
    from planner.costs.profile import on_gpu
    from planner.hardware.inventory import build_inventory
    from planner.placement.problem import build_problem

    inventory = build_inventory(["8xL40S"], cpu="512GiB")
    prof = on_gpu(profile("Llama-3.1-70B", batch=4, prompt_tokens=32768, new_tokens=512), inventory.gpu0_type)
    reason = proven_infeasible(build_problem(prof, inventory))
    assert reason is not None and reason.startswith("the execution GPU needs at least 46.")

"""The offload floor (placement/offload_floor.py) against exhaustive search: no valid plan offloads
less, and where a starting plan meets it the solver's answer is the brute-force optimum with
the first stage settled without search."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st
from test_solver_properties import SETTINGS, candidates, objectives, problems

from planner.hardware.inventory import Device
from planner.placement import solver as solver_module
from planner.placement.loads import execution_device, offload_ns
from planner.placement.offload_floor import execution_floors, offload_floor
from planner.placement.problem import Item, Problem
from planner.placement.solver import solve
from planner.placement.verify import verify

LINK = 10.0


@st.composite
def layered(draw):
    """Runs of identical layers too many for the GPUs, with an embedding and a head around them:
    the shape of problem where the floor is meant to bind."""
    layer = (draw(st.integers(8, 50)), draw(st.integers(0, 8)), draw(st.integers(0, 12)))
    w, kv, act = layer
    gpus = []
    for g in range(draw(st.integers(1, 3))):  # room to run one layer, 0-1 more, and part of another
        reserve = draw(st.integers(0, 10))
        held = draw(st.integers(1, 2))
        gpus.append(Device(g, "gpu", "g", reserve + act + held * (w + kv) + draw(st.integers(0, w + kv)), reserve, LINK))
    hosts = [Device("cpu", "cpu", "cpu", draw(st.integers(40, 400)))]
    if draw(st.booleans()):
        hosts.append(Device("disk", "disk", "disk", draw(st.integers(40, 400)), 0, 2.0))
    shapes = [layer] * draw(st.integers(3, 5))
    if draw(st.booleans()):  # a second run of other layers before them (DeepSeek's dense layers before its MoE ones)
        other = (draw(st.integers(8, 50)), draw(st.integers(0, 8)), draw(st.integers(0, 12)))
        shapes = [other] * 2 + shapes[:3]
    for _ in range(draw(st.integers(0, 1 if len(shapes) < 5 else 0))):
        shapes.insert(draw(st.sampled_from([0, len(shapes)])),
                      (draw(st.integers(1, 40)), draw(st.integers(0, 4)), draw(st.integers(0, 12))))
    devices = tuple(gpus + hosts)
    grow = draw(st.sampled_from([1, 1, 2, 3]))  # hosted weights over GPU weights (bitsandbytes: offloaded stays unquantized)
    items = tuple(Item((i,), (f"u{i}",), w, kv, a, tuple(range(len(devices))), True, -1 if grow == 1 else w * grow)
                  for i, (w, kv, a) in enumerate(shapes))
    offload = tuple(tuple(0 if d.kind == "gpu" else math.ceil(it.hosted / LINK) if d.kind == "cpu"
                          else math.ceil(it.hosted / d.link_gb_per_s) + math.ceil(it.hosted / LINK)
                          for d in devices) for it in items)
    return Problem(items, devices, draw(st.sampled_from(["gpus", "balance"])), offload)


def _least_offload(problem: Problem) -> int | None:
    valid = [a for a in candidates(problem) if not verify(problem, a)]
    return min((offload_ns(problem, a) for a in valid), default=None)


@SETTINGS
@given(st.one_of(problems(), layered()))
def test_no_plan_offloads_less_than_the_floor(problem):
    """Every valid plan offloads at least its execution GPU's floor (no floor: no valid plan
    executes there), so at least the least floor."""
    valid = [a for a in candidates(problem) if not verify(problem, a)]
    floors = execution_floors(problem)
    for a in valid:
        if floors:
            floor = floors[execution_device(problem, a)]
            assert floor is not None and floor <= offload_ns(problem, a)
        assert offload_floor(problem) <= offload_ns(problem, a)


@SETTINGS
@given(layered())
def test_a_plan_at_the_floor_is_the_optimum(problem):
    """Where the starting plan meets the floor, stage 1 is not searched and the answer is still
    the lexicographic optimum of exhaustive search."""
    valid = [a for a in candidates(problem) if not verify(problem, a)]
    if not valid:
        return
    solution = solve(problem, time_limit_s=5.0)
    assert solution.status == "optimal"
    best = min(objectives(problem, a) for a in valid)
    assert objectives(problem, solution.assignment) == best


def _deepseek_like() -> Problem:
    """Six layers of 20 bytes (no KV, activation 2) on GPUs of room 45, 25 and 45 (reserve 0) and
    a CPU: a GPU of 45 holds two layers, of 25 one. With GPU 0 executing, it keeps room to onload
    a layer (20) and run it (2): one layer of its own; so 1 + 1 + 2 = 4 layers on the GPUs and
    2 offloaded (40 ns) at best. GPU 1 or 2 executing does no better (GPU 1: 0 + 2 layers)."""
    devices = (Device(0, "gpu", "g", 45, 0, LINK), Device(1, "gpu", "g", 25, 0, LINK), Device(2, "gpu", "g", 45, 0, LINK),
               Device("cpu", "cpu", "cpu", 400))
    items = tuple(Item((i,), (f"layer{i}",), 20, 0, 2, (0, 1, 2, 3)) for i in range(6))
    return Problem(items, devices, "gpus", tuple((0, 0, 0, 2) for _ in items))


def test_the_floor_counted_by_hand_settles_stage_one(monkeypatch):
    problem = _deepseek_like()
    assert offload_floor(problem) == 4
    assert _least_offload(problem) == 4
    stages = []
    real = solver_module.solve_stage

    def counted(model, expr, seconds, maximize=False):
        stages.append(expr)
        return real(model, expr, seconds, maximize)

    monkeypatch.setattr(solver_module, "solve_stage", counted)
    solution = solve(problem, time_limit_s=5.0)
    assert len(stages) == 1  # stage 1 proven by the starting plan, only stage 2 searched
    assert solution.status == "optimal" and solution.objectives["offload_ns"] == 4
    valid = [a for a in candidates(problem) if not verify(problem, a)]
    assert objectives(problem, solution.assignment) == min(objectives(problem, a) for a in valid)


def test_a_gpu_that_cannot_run_an_offloaded_layer_is_no_execution_gpu():
    """GPU 0 (room 21) cannot onload a 20-byte layer beside its activation of 2, so only GPU 1
    can execute; GPU 0 then holds nothing: 3 layers of room 45 -> 2 on GPU 1, one offloaded."""
    devices = (Device(0, "gpu", "g", 21, 0, LINK), Device(1, "gpu", "g", 45, 0, LINK), Device("cpu", "cpu", "cpu", 400))
    items = tuple(Item((i,), (f"layer{i}",), 20, 0, 2, (0, 1, 2)) for i in range(4))
    problem = Problem(items, devices, "gpus", tuple((0, 0, 2) for _ in items))
    assert offload_floor(problem) == _least_offload(problem) == 6

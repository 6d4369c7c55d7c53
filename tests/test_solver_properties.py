"""The solver against brute force on random tiny instances: every plan passes ``verify``, the
lexicographic optimum equals exhaustive search, infeasibility is exact, and so is the shortfall."""

from __future__ import annotations

import itertools
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.hardware.inventory import Device
from planner.placement.loads import device_loads, offload_ns
from planner.placement.problem import UTIL_SCALE, Item, Problem
from planner.placement.solver import least_shortfall, solve
from planner.placement.verify import verify


@st.composite
def problems(draw):
    n_gpus = draw(st.integers(0, 3))
    devices = []
    for g in range(n_gpus):
        cap = draw(st.integers(40, 300))
        devices.append(Device(g, "gpu", "g", cap, draw(st.integers(0, 15)), 10.0, price_usd=draw(st.sampled_from([1.0, 2.0])),
                              price_usd_per_hour=draw(st.sampled_from([None, 0.5, 1.25]))))
    if n_gpus == 0 or draw(st.booleans()):
        devices.append(Device("cpu", "cpu", "cpu", draw(st.integers(30, 400))))
    if draw(st.booleans()):
        devices.append(Device("disk", "disk", "disk", draw(st.integers(30, 400)), 0, 2.0))
    n_items = draw(st.integers(1, 6 if len(devices) <= 3 else 5))
    twin = draw(st.booleans())
    # the engine's rules: hosted weights larger than on a GPU (bitsandbytes keeps offloaded modules
    # unquantized), and items the engine keeps on GPUs (fp8 quantized on the fly, mxfp4 experts)
    unquantized_host = draw(st.booleans())
    items = []
    for i in range(n_items):
        if twin and items and draw(st.booleans()):
            prev = items[-1]
            items.append(Item((i,), (f"u{i}",), prev.weights_bytes, prev.kv_bytes, prev.activation_bytes, prev.allowed,
                              prev.in_sequence, prev.host_weights_bytes, prev.buffer_bytes))
            continue
        pinned = draw(st.integers(0, 9)) == 0
        gpus_only = n_gpus and not pinned and draw(st.integers(0, 5)) == 0
        allowed = ((draw(st.integers(0, len(devices) - 1)),) if pinned else tuple(range(n_gpus)) if gpus_only
                   else tuple(range(len(devices))))
        weights = draw(st.integers(1, 120))
        buffers = draw(st.sampled_from([0, 0, 0, 1, 5]))  # part of the weights; offloaded, they stay on the executor
        hosted = weights * draw(st.integers(2, 4)) if unquantized_host and draw(st.booleans()) else weights - buffers
        items.append(Item((i,), (f"u{i}",), weights, draw(st.integers(0, 25)), draw(st.integers(0, 25)),
                          allowed, not pinned, -1 if hosted == weights else max(hosted, 0), min(buffers, weights)))
    objective = draw(st.sampled_from(["gpus", "cost", "balance"]))
    all_hourly = all(d.price_usd_per_hour is not None for d in devices if d.kind == "gpu")
    basis = draw(st.sampled_from(["auto", "purchase", "hourly"] if all_hourly else ["auto", "purchase"]))
    link = 10.0
    offload = tuple(tuple(0 if d.kind == "gpu" or (d.kind == "cpu" and not n_gpus) else
                          math.ceil(it.hosted / link) if d.kind == "cpu" else
                          math.ceil(it.hosted / d.link_gb_per_s) + (math.ceil(it.hosted / link) if n_gpus else 0)
                          for d in devices) for it in items)
    return Problem(tuple(items), tuple(devices), objective, offload, price_basis=basis)


def contiguous(problem: Problem, a: tuple[int, ...]) -> bool:
    seq = [d for it, d in zip(problem.items, a, strict=True) if it.in_sequence]
    for g in problem.gpu_indices:
        runs = sum(1 for k, d in enumerate(seq) if d == g and (k == 0 or seq[k - 1] != g))
        if runs > 1:
            return False
    return True


def candidates(problem: Problem):
    for a in itertools.product(*(it.allowed for it in problem.items)):
        if contiguous(problem, a) and (not problem.gpu_indices or any(d in problem.gpu_indices for d in a)):
            yield a


def objectives(problem: Problem, a: tuple[int, ...]) -> tuple[int, ...]:
    loads = device_loads(problem, a)
    used = [g for g in problem.gpu_indices if loads[g].total_bytes and g in a]
    stages = [offload_ns(problem, a)]
    if problem.objective == "gpus":
        stages.append(len(used))
    elif problem.objective == "cost":
        every = all(problem.devices[g].price_usd_per_hour is not None for g in problem.gpu_indices)
        hourly = problem.price_basis == "hourly" or (problem.price_basis == "auto" and every)
        stages.append(sum(round(problem.devices[g].price_usd_per_hour * 10_000) if hourly
                          else round(problem.devices[g].price_usd) for g in used))
    if problem.gpu_indices:
        stages.append(max(-(-loads[g].total_bytes * UTIL_SCALE // problem.devices[g].capacity_bytes) for g in problem.gpu_indices))
    away = [d for d in (problem.cpu, problem.disk) if d is not None] if problem.gpu_indices else [problem.disk]
    offloaded_blocks = sum(1 for first, size in problem.blocks for d in away
                           if any(a[i] == d for i in range(first, first + size)))
    stages.append(len(used) + offloaded_blocks)
    return tuple(stages)


SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(problems())
def test_solver_matches_brute_force(problem):
    feasible = [a for a in candidates(problem) if not verify(problem, a)]
    solution = solve(problem, time_limit_s=5.0)
    if not feasible:
        assert solution.status == "infeasible"
        return
    assert solution.status == "optimal"
    assert verify(problem, solution.assignment) == []
    best = min(objectives(problem, a) for a in feasible)
    assert objectives(problem, solution.assignment) == best
    assert tuple(solution.objectives.values()) == best


@SETTINGS
@given(problems())
def test_shortfall_is_the_least_overflow(problem):
    def overflow(a):
        return sum(max(0, load.total_bytes - dev.capacity_bytes)
                   for dev, load in zip(problem.devices, device_loads(problem, a), strict=True))

    best = min((overflow(a) for a in candidates(problem)), default=None)
    if best is None:
        return
    shortfall, where = least_shortfall(problem, time_limit_s=5.0)
    assert shortfall == best
    assert sum(where.values()) == shortfall


def test_two_gpus_never_cross_the_same_block_boundary():
    """[A A][B B] on two 21-byte GPUs fits only if both GPUs hold an A and a B (g0 g1 g0 g1),
    which is not one contiguous run per GPU: the answer must be infeasible."""
    gpus = tuple(Device(g, "gpu", "g", 21, 0, 10.0) for g in range(2))
    a = [Item((i,), (f"a{i}",), 10, 0, 0, (0, 1)) for i in range(2)]
    b = [Item((i + 2,), (f"b{i}",), 10, 1, 0, (0, 1)) for i in range(2)]
    problem = Problem(tuple(a + b), gpus, "gpus", ((0, 0),) * 4)
    assert len(problem.blocks) == 2
    assert solve(problem).status == "infeasible"


def test_a_device_map_reads_back_as_its_assignment_and_its_faults_are_named():
    """assignment_from_device_map inverts a plan's collapsed device_map exactly, and names the
    rules a hand-edited map breaks: a module left out, the tied embedding and head split, a
    device the inventory does not have."""
    from planner import profile
    from planner.hardware.inventory import build_inventory
    from planner.placement.plan import make_plan
    from planner.placement.verify import assignment_from_device_map

    prof = profile("Llama-3.2-1B", dtype="bf16")
    result = make_plan(prof, build_inventory(gpus=["2x1GiB"], cpu="8GiB"), "gpus")
    problem = result.problem
    assert len(set(result.assignment)) > 1  # a map with several devices, collapsed to prefixes
    assert assignment_from_device_map(problem, result.device_map) == (result.assignment, [])
    whole = {name: problem.devices[d].key for it, d in zip(problem.items, result.assignment, strict=True) for name in it.names}
    missing = {k: v for k, v in whole.items() if k != "model.norm"}
    _, errors = assignment_from_device_map(problem, missing)
    assert errors == ["model.norm: not covered by the device_map"]
    split = {**whole, "model.embed_tokens": 0, "lm_head": "cpu"}
    _, errors = assignment_from_device_map(problem, split)
    assert errors == ["model.embed_tokens, lm_head: share a tensor but are mapped to different devices"]
    _, errors = assignment_from_device_map(problem, {**whole, "model.norm": 7})
    assert errors == ["model.norm: device 7 is not in the inventory"]


def test_a_pin_breaks_the_symmetry_of_identical_gpus():
    """Two identical GPUs are used in order (symmetry breaking), unless a pin tells them apart: one
    layer pinned to GPU 1 fits on GPU 1 alone, with GPU 0 idle (not 'infeasible', not two GPUs)."""
    gpus = tuple(Device(g, "gpu", "g", 100, 0, 10.0) for g in range(2))
    problem = Problem((Item((0,), ("head",), 10, 0, 0, (1,), False), Item((1,), ("layer",), 10, 0, 0, (0, 1))), gpus,
                      "gpus", ((0, 0), (0, 0)))
    assert problem.symmetric_pairs() == []
    solution = solve(problem, time_limit_s=5.0)
    assert solution.status == "optimal" and solution.assignment == (1, 1) and solution.objectives["gpus"] == 1

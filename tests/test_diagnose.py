"""The diagnosis's fast paths against independent answers: the execution GPU's bound narrows
its searches and settles one-GPU shortfalls, so each figure it prints is checked here against
exhaustive search (small problems) or a CP-SAT feasibility model built without screen.py."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_solver_properties import candidates, problems

from planner import profile
from planner.hardware.inventory import build_inventory
from planner.placement.diagnose import _bound_top, _catalog_device
from planner.placement.loads import device_loads
from planner.placement.plan import make_plan
from planner.placement.problem import build_problem
from planner.placement.screen import one_gpu_shortfall
from planner.placement.solver import searched_feasible

GiB = 2**30


def _searched(problem) -> bool:
    """Whether any plan exists, by CP-SAT alone (none of screen.py's shortcuts)."""
    found, _ = searched_feasible(problem, 10.0)
    assert found is not None
    return found


def _one_gpu(problem):
    every = tuple(range(len(problem.devices)))
    return replace(problem, items=tuple(replace(it, allowed=every, in_sequence=True) for it in problem.items))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(problems().filter(lambda p: len(p.gpu_indices) == 1).map(_one_gpu))
def test_one_gpu_shortfall_is_the_least_overflow(problem):
    answer = one_gpu_shortfall(problem)
    if answer is None:
        return
    best = min(sum(max(0, load.total_bytes - dev.capacity_bytes)
                   for dev, load in zip(problem.devices, device_loads(problem, a), strict=True))
               for a in candidates(problem))
    assert answer[0] == best == sum(answer[1].values())


@given(st.integers(0, 2_000), st.integers(1, 50), st.integers(0, 400))
def test_false_position_finds_the_last_value_left_open(root, slope, bend):
    """The margin falls as v grows (a line with a bend): the top is the last v with margin >= 0."""
    def margin(v: int) -> int:
        return slope * (root - v) - (bend * (v - root) ** 2 if v > root else 0)

    assert _bound_top(margin, 0, 2_000) == root
    assert _bound_top(lambda v: None, 0, 2_000) == 2_000


INVENTORIES = {"one GPU": {0: 24 * GiB, "cpu": 256 * GiB}, "two GPUs": {0: 24 * GiB, 1: 12 * GiB, "cpu": 256 * GiB}}


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_offloading_fixes_are_the_limits(inventory):
    """Mixtral-8x7B at 16 x (8192 + 256) tokens needs 30 GiB of activations per layer: nothing fits
    on a 24 GiB GPU (and a 12 GiB one) with CPU offload. The longest prompt and the largest batch
    it names fit, one more does not, and the fewest extra GPUs it names fit where one fewer does
    not: each by a CP-SAT model without the screen's shortcuts."""
    inv = build_inventory(max_memory=INVENTORIES[inventory])
    prof = profile("Mixtral-8x7B-v0.1", dtype="bf16", quant="none", batch=16, prompt_tokens=8192, new_tokens=256)
    plan = make_plan(prof, inv, time_limit_s=2.0)
    assert plan.status == "infeasible"
    tips = {t.split()[0]: t for t in plan.diagnosis.suggestions}

    def fits(**update) -> bool:
        return _searched(build_problem(profile("Mixtral-8x7B-v0.1", dtype="bf16", quant="none",
                                                **({"batch": 16, "prompt_tokens": 8192, "new_tokens": 256} | update)), inv))

    tokens = int(tips["shorten"].split("at most ")[1].split()[0])
    assert fits(prompt_tokens=tokens) and not fits(prompt_tokens=tokens + 1)
    batch = int(tips["run"].split("at most ")[1].split()[0])
    assert fits(batch=batch) and not fits(batch=batch + 1)
    words = tips["add"].split()
    extra, label = int(words[1]), words[3]
    gpu = _catalog_device(label, False)

    def more(k: int) -> bool:
        gpus = inv.gpus + tuple(replace(gpu, key=len(inv.gpus) + j) for j in range(k))
        return _searched(build_problem(prof, replace(inv, gpus=gpus)))

    assert more(extra) and not more(extra - 1)


def test_false_position_takes_no_more_steps_than_twice_bisection():
    """A margin that false position handles worst (a cliff right after a long flat top)."""
    calls = []

    def margin(v: int) -> int:
        calls.append(v)
        return 1 if v <= 999_998 else -10**30

    assert _bound_top(margin, 0, 1_000_000) == 999_998
    assert len(calls) <= 2 + 3 * (1_000_000).bit_length()


def test_fixes_the_screen_decides_need_no_time():
    """On one GPU the execution bound and the host plans decide every shorter prompt and smaller
    batch without search, so a time limit too short for any search still names those fixes, the
    same as with time to spare; more GPUs (13 more A100-40GB) take a search to check."""
    inv = build_inventory(max_memory=INVENTORIES["one GPU"])
    prof = profile("Mixtral-8x7B-v0.1", dtype="bf16", quant="none", batch=16, prompt_tokens=8192, new_tokens=256)
    full = make_plan(prof, inv, time_limit_s=2.0).diagnosis.suggestions
    quick = make_plan(prof, inv, time_limit_s=0.001).diagnosis.suggestions
    assert [t.split()[0] for t in full] == ["add", "shorten", "run"]
    assert quick == full[1:]

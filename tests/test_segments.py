"""The segment search (placement/segments.py) against exhaustive search, a hand-counted instance at
128 GPUs, and the rules around it: never worse than the greedy, the same plan on every run, a
diagnosis whose suggestions are exact."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_solver_properties import candidates, objectives

from planner.hardware.inventory import Device, build_inventory
from planner.placement.problem import Item, Problem
from planner.placement.segments import solve_segments
from planner.placement.solver import solve
from planner.placement.verify import verify


@st.composite
def gpu_only_problems(draw):
    """Up to five GPUs of two or three sizes (so several are interchangeable), no host devices:
    the case the segment search claims; some items pinned to a GPU."""
    sizes = draw(st.lists(st.integers(30, 160), min_size=1, max_size=3))
    n_gpus = draw(st.integers(1, 5))
    devices = tuple(Device(g, "gpu", "g", sizes[g % len(sizes)], draw(st.sampled_from([0, 5])), 10.0,
                           price_usd=float(draw(st.sampled_from([1, 3])))) for g in range(n_gpus))
    items = []
    for i in range(draw(st.integers(1, 6 if n_gpus <= 3 else 5))):
        if items and draw(st.booleans()):
            items.append(replace(items[-1], units=(i,), names=(f"u{i}",)))
            continue
        pinned = draw(st.integers(0, 7)) == 0
        allowed = (draw(st.integers(0, n_gpus - 1)),) if pinned else tuple(range(n_gpus))
        items.append(Item((i,), (f"u{i}",), draw(st.integers(1, 60)), draw(st.integers(0, 10)), draw(st.integers(0, 20)),
                          allowed, not pinned))
    objective = draw(st.sampled_from(["gpus", "cost", "balance"]))
    return Problem(tuple(items), devices, objective, tuple((0,) * n_gpus for _ in items))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(gpu_only_problems())
def test_segment_search_equals_exhaustive_search(problem):
    feasible = [a for a in candidates(problem) if not verify(problem, a)]
    result = solve_segments(problem, time_limit_s=5.0)
    if not feasible:
        assert result.plan is None and result.no_gpu_plan
        return
    assert result.plan is not None and result.plan.status == "optimal"
    assert verify(problem, result.plan.assignment) == []
    best = min(objectives(problem, a) for a in feasible)
    assert objectives(problem, result.plan.assignment) == best
    assert tuple(result.plan.objectives.values()) == best


def _layers_problem(objective: str) -> Problem:
    """126 layers of 10 bytes on 128 GPUs of 24/12/40/48/80 bytes cycled: a GPU of c bytes
    holds c // 10 layers (8, 4, 4, 2, 1), so the fewest GPUs are ceil(126 / 8) = 16 of the
    80-byte ones, and then the fullest is full (15 x 8 = 120 < 126 at 7 layers each)."""
    cycle = [24, 12, 40, 48, 80]
    devices = tuple(Device(g, "gpu", "g", cycle[g % 5], 0, 10.0) for g in range(128))
    items = tuple(Item((i,), (f"layers.{i}",), 10, 0, 0, tuple(range(128))) for i in range(126))
    return Problem(items, devices, objective, tuple((0,) * 128 for _ in items))


def test_hand_counted_instance_at_128_gpus():
    solution = solve(_layers_problem("gpus"), time_limit_s=1.0)
    assert solution.status == "optimal"
    assert solution.objectives == {"offload_ns": 0, "gpus": 16, "max_utilization": 10_000, "runs": 16}
    used = sorted(set(solution.assignment))
    assert used == [g for g in range(128) if g % 5 == 4][:16]  # the first sixteen 80-byte GPUs


def test_balance_at_128_gpus_is_hand_counted():
    """Even load on the same 128 GPUs (26 of 24, 26 of 12, 26 of 40, 25 of 48, 25 of 80 bytes):
    at 37.5% an 80-byte GPU holds 3 layers, a 48- or 40-byte one 1, a 24- or 12-byte one none:
    75 + 25 + 26 = 126, exactly enough; below it the 80-byte ones hold 2 and 101 < 126. So the
    fullest GPU is at 3750 / 10000 and all 76 GPUs of 40 bytes or more are needed."""
    problem = _layers_problem("balance")
    solution = solve(problem, time_limit_s=2.0)
    assert solution.status == "optimal"
    assert solution.objectives == {"offload_ns": 0, "max_utilization": 3750, "runs": 76}
    assert verify(problem, solution.assignment) == []


def test_same_plan_every_run_also_when_work_runs_out():
    problem = _layers_problem("balance")
    runs = {repr((s.status, s.assignment, s.objectives, s.gap)) for s in (solve(problem, time_limit_s=0.02) for _ in range(3))}
    assert len(runs) == 1


def test_never_worse_than_the_greedy_when_the_search_cannot_finish():
    """With offloading needed (CP-SAT's part) and almost no time, the answer is still a plan."""
    from planner import profile
    from planner.placement.plan import make_plan

    prof = profile("Meta-Llama-3-8B", dtype="bf16", quant="none")
    mm = {g: [4, 2, 3][g % 3] * 2**30 for g in range(24)} | {"cpu": 64 * 2**30}
    plan = make_plan(prof, build_inventory(max_memory=mm), time_limit_s=0.001, diagnose=False)
    assert plan.status in ("optimal", "feasible")
    assert plan.assignment is not None and verify(plan.problem, plan.assignment) == []


def test_more_gpus_suggestion_is_the_fewest_that_fit():
    """The diagnosis says N more GPUs: N fit and N - 1 do not (checked by the search itself)."""
    from planner import profile
    from planner.placement.plan import make_plan
    from planner.placement.problem import build_problem

    prof = profile("Llama-3.1-70B", dtype="bf16", quant="none", batch=8, prompt_tokens=4096)
    inventory = build_inventory(gpus=["2x24GiB"])
    plan = make_plan(prof, inventory, time_limit_s=0.5)
    assert plan.status == "infeasible"
    tip = next(t for t in plan.diagnosis.suggestions if t.startswith("add "))
    extra = int(tip.split()[1])
    gpu = inventory.gpus[0]

    def fits(k: int) -> bool:
        more = tuple(replace(gpu, key=2 + j) for j in range(k))
        return solve_segments(build_problem(prof, replace(inventory, gpus=inventory.gpus + more))).plan is not None

    assert fits(extra) and not fits(extra - 1)


@st.composite
def long_problems(draw):
    """A model as the catalog's look: a few distinct head items, a long run of identical layers
    (20-60), a tail of 1-4 distinct items; 3-10 GPUs of two or three sizes, some reserve."""
    sizes = draw(st.lists(st.integers(60, 400), min_size=2, max_size=3))
    n_gpus = draw(st.integers(3, 10))
    devices = tuple(Device(g, "gpu", "g", sizes[g % len(sizes)], draw(st.sampled_from([0, 4])), 10.0) for g in range(n_gpus))
    layer = (draw(st.integers(8, 40)), draw(st.integers(0, 6)), draw(st.integers(0, 12)))
    shapes = [(draw(st.integers(1, 60)), 0, draw(st.integers(0, 20))) for _ in range(draw(st.integers(0, 2)))]
    shapes += [layer] * draw(st.integers(20, 60))
    shapes += [(draw(st.integers(1, 80)), 0, draw(st.integers(0, 30))) for _ in range(draw(st.integers(1, 4)))]
    everywhere = tuple(range(n_gpus))
    items = tuple(Item((i,), (f"u{i}",), w, kv, a, everywhere) for i, (w, kv, a) in enumerate(shapes))
    objective = draw(st.sampled_from(["gpus", "balance"]))
    return Problem(items, devices, objective, tuple((0,) * n_gpus for _ in items))


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(long_problems())
def test_the_exact_tail_equals_walking_the_run(problem):
    """On sequences too long to enumerate, the search that finishes covers inside the last run
    by formula (segment_tail.py) gives the same optimum as the same search walking the run GPU
    by GPU (the tail switched off), both proven."""
    import planner.placement.segment_tail as tail

    fast = solve_segments(problem, time_limit_s=20.0)
    ok = tail.TailCompletion.__init__

    def walk(self, *args):
        ok(self, *args)
        self.ok = False

    tail.TailCompletion.__init__ = walk
    try:
        slow = solve_segments(problem, time_limit_s=20.0)
    finally:
        tail.TailCompletion.__init__ = ok
    assert (fast.plan is None) == (slow.plan is None) and fast.no_gpu_plan == slow.no_gpu_plan
    if fast.plan is not None:
        assert fast.plan.status == slow.plan.status == "optimal"
        assert fast.plan.objectives == slow.plan.objectives
        assert verify(problem, fast.plan.assignment) == []


def _reaches_by_load(problem: Problem, shares: list[int]) -> None:
    from planner.placement.segment_parts import Sequence
    from planner.placement.segments import _Search

    seq = Sequence(problem)
    search = _Search(problem, seq, 10**6)
    for g in problem.gpu_indices:
        dev = problem.devices[g]
        for share in shares:
            room = dev.capacity_bytes * share // 100
            expected = []
            for i in range(seq.n):
                j = i
                while j < seq.n and seq.load(i, j + 1, g, dev.reserve_bytes) <= room:
                    j += 1
                expected.append(j)
            assert search._sweep(room, g, dev.reserve_bytes) == expected


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(gpu_only_problems(), st.lists(st.integers(0, 100), min_size=1, max_size=4))
def test_every_reach_is_the_longest_segment_that_fits(problem, shares):
    """The search's reaches (bisections over its precomputed rows) against Sequence.load, the
    load rule itself, item by item: from every start, the longest run of items whose load (with
    the GPU's pinned base) fits the room, at several rooms per GPU."""
    _reaches_by_load(problem, shares)


def test_a_pinned_activation_shortens_the_reach():
    """GPU 0 holds a pinned item whose activation (30) exceeds every layer's (2): beside it a
    room of 100 takes (100 - 0 - 30) // 10 = 7 layers, not the (100 - 2) // 10 = 9 the layers'
    own peak would allow."""
    devices = (Device(0, "gpu", "g", 100, 0, 10.0),)
    items = tuple(Item((i,), (f"layer{i}",), 10, 0, 2, (0,)) for i in range(12)) + (
        Item((12,), ("vision",), 0, 0, 30, (0,), False),)
    problem = Problem(items, devices, "gpus", tuple((0,) for _ in items))
    from planner.placement.segment_parts import Sequence
    from planner.placement.segments import _Search

    assert _Search(problem, Sequence(problem), 10**6)._sweep(100, 0, 0)[0] == 7
    _reaches_by_load(problem, [100, 50])

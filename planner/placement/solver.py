"""Solve a placement problem: objectives one after another, each fixed before the next.

Most problems that fit on their GPUs are solved exactly by the segment search (segments.py);
a problem that screen.py's necessary conditions rule out is answered infeasible at once; the
rest (offloading needed, or a search past its work budget) go to CP-SAT as below.

Stages: (1) least offload time; (2) fewest GPUs or lowest price (skipped for ``balance``);
(3) lowest maximum GPU utilization; (4) fewest runs (device changes along the layers). Each
stage starts from the previous answer (or the greedy's) as a hint and must not worsen the stages
before it. The status is "optimal" only when every stage was proven optimal; otherwise the plan
is "feasible" and carries the gap of the first unproven stage.

Determinism and Ctrl-C: every search runs through ``cpsat_run`` (deterministic time budget,
one worker, fixed seed; interruptible). ``time_limit_s`` sets the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from planner.placement.problem import Problem
from planner.search.cpsat_run import deterministic_solver, run_search, solve_stage

DEFAULT_TIME_LIMIT_S = 1.0


@dataclass(frozen=True)
class Solution:
    status: str
    """optimal | feasible | infeasible"""
    assignment: tuple[int, ...] | None
    objectives: dict[str, int]
    gap: float
    """Relative gap of the first stage not proven optimal (0.0 when optimal)."""
    solve_seconds: float
    unproven_stage: str | None = None


def _stages(pm) -> list[list[tuple[str, object, int]]]:
    """Objective stages; a stage with several terms is one weighted sum whose weights keep it
    lexicographic: each term's weight exceeds the largest possible value of all terms after it."""
    problem = pm.problem
    second: list[tuple[str, object, int]] = []
    if problem.objective == "gpus":
        second.append(("gpus", pm.gpu_count(), len(pm.gpus)))
    elif problem.objective == "cost":
        second.append(("price", pm.price(), pm.price_bound()))
    if pm.gpus:
        second.append(("max_utilization", pm.max_utilization(), pm.UTIL_SCALE))
    second.append(("runs", pm.runs(), pm.runs_bound()))
    return [[("offload_ns", pm.offload_ns(), 0)], second]


def _weighted(terms: list[tuple[str, object, int]]):
    expr, scale = 0, 1
    for _, term, bound in reversed(terms):
        expr = expr + scale * term
        scale *= bound + 1
    return expr


def solve(problem: Problem, hint: tuple[int, ...] | None = None, time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> Solution:
    """The lexicographic optimum: by the segment search (segments.py) when the model fits on
    the GPUs and that search finishes within its work budget, else by CP-SAT."""
    from planner.placement.screen import proven_infeasible
    from planner.placement.segments import solve_segments

    start = time.perf_counter()
    result = solve_segments(problem, time_limit_s)
    direct = result.plan
    if direct is not None:
        return Solution(direct.status, direct.assignment, direct.objectives, direct.gap, time.perf_counter() - start,
                        direct.unproven)
    if (result.no_gpu_plan and not _has_offload_device(problem)) or proven_infeasible(problem):
        return Solution("infeasible", None, {}, 0.0, time.perf_counter() - start, "offload_ns")
    return _solve_cpsat(problem, _best_hint(problem, hint), max(time_limit_s - result.spent_s, 0.05), start)


def _best_hint(problem: Problem, hint: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """CP-SAT's starting point: the better (lexicographically, by objective_values) of the
    caller's hint (the greedy's plan) and screen.filled_plan, among those that are valid; the
    caller's when neither is."""
    from planner.placement.loads import objective_key
    from planner.placement.screen import filled_plan
    from planner.placement.verify import verify

    valid = [a for a in (hint, filled_plan(problem)) if a is not None and not verify(problem, a)]
    if not valid:
        return hint
    return min(valid, key=lambda a: objective_key(problem, a))


def _has_offload_device(problem: Problem) -> bool:
    away = {d for d, dev in enumerate(problem.devices) if dev.kind != "gpu"}
    return any(away.intersection(it.allowed) for it in problem.items)


def _solve_cpsat(problem: Problem, hint: tuple[int, ...] | None, time_limit_s: float, start: float) -> Solution:
    from planner.search.cp_model import load

    cp_model = load()
    from planner.placement.cpsat import PlacementModel
    from planner.placement.loads import objective_values, offload_ns
    from planner.placement.verify import verify

    hint_valid = hint is not None and not verify(problem, hint)
    executors = _settled_executors(problem, hint) if hint_valid else None
    pm = PlacementModel(problem, executors=executors)
    if hint is not None:
        pm.hint(hint)
    values: dict[str, int] = {}
    status, gap, unproven = "optimal", 0.0, None
    assignment = None
    spent = 0.0  # deterministic seconds used by the stages so far
    for k, terms in enumerate(_stages(pm)):
        expr = _weighted(terms)
        if k == 0 and executors is not None:
            pm.model.add(terms[0][1] <= pm.offload_value(hint))  # stage 1 is proven by the hint without search
            values["offload_ns"] = offload_ns(problem, hint)
            continue
        left = time_limit_s - spent
        if left < 0.02 and assignment is not None:  # out of budget: keep the answer of the stages before
            status, unproven = "feasible", unproven or terms[0][0]
            break
        code, solver = solve_stage(pm.model, expr, left)
        spent += solver.response_proto.deterministic_time
        if code == cp_model.INFEASIBLE or (code == cp_model.UNKNOWN and assignment is None):
            if code == cp_model.UNKNOWN and hint_valid:  # never worse than the greedy plan
                assignment, status, unproven = hint, "feasible", terms[0][0]
                values = objective_values(problem, hint)
                break
            return Solution("infeasible" if code == cp_model.INFEASIBLE else "unknown", None, {}, 0.0,
                            time.perf_counter() - start, terms[0][0])
        if code == cp_model.UNKNOWN:  # out of time at a later stage: keep the previous answer
            status, unproven = "feasible", unproven or terms[0][0]
            break
        assignment = pm.assignment(solver)
        for name, term, _ in terms:
            values[name] = round(solver.value(term))
        if code != cp_model.OPTIMAL and unproven is None:
            status, unproven = "feasible", terms[0][0]
            value, bound = solver.objective_value, solver.best_objective_bound
            gap = (value - bound) / max(abs(value), 1)
        pm.hint(assignment)
    # the model counts in scaled units (cpsat.scaled); the answer reports the plan's own figures
    values = objective_values(problem, assignment) if assignment is not None else values
    return Solution(status, assignment, values, gap, time.perf_counter() - start, unproven)


def _settled_executors(problem: Problem, hint: tuple[int, ...]) -> tuple[int, ...] | None:
    """When a valid plan that runs on a GPU offloads no more than any plan can (offload_floor.py),
    the first stage is proven at its value; then the GPUs whose own floor allows that offload,
    the only ones a plan at that offload can execute on (the hint's among them). None when the
    bound does not prove it."""
    from planner.placement.loads import execution_device, offload_ns
    from planner.placement.offload_floor import execution_floors

    if execution_device(problem, hint) not in problem.gpu_indices:
        return None
    spent = offload_ns(problem, hint)
    floors = execution_floors(problem)
    if spent > min((f for f in floors.values() if f is not None), default=0):
        return None
    allowed = tuple(g for g in problem.gpu_indices if g not in floors or (floors[g] is not None and floors[g] <= spent))
    return allowed or None  # never empty when the hint is valid: its own execution GPU's floor is at most its offload


def feasible(problem: Problem, time_limit_s: float = 0.5) -> tuple[bool | None, float]:
    """Whether any plan exists (None when the time limit ran out first), and the deterministic
    seconds the search spent: screen.py's conditions and its plans (simple, filled) first,
    CP-SAT when they cannot tell."""
    known = screened(problem)
    if known is not None:
        return known, 0.0
    return searched_feasible(problem, time_limit_s)


def searched_feasible(problem: Problem, time_limit_s: float) -> tuple[bool | None, float]:
    """``feasible`` by CP-SAT alone, for callers that asked screen.py already (``screened``)."""
    from planner.search.cp_model import load

    cp_model = load()
    from planner.placement.cpsat import PlacementModel

    solver = deterministic_solver(time_limit_s)
    code = run_search(solver, PlacementModel(problem).model)
    spent = solver.response_proto.deterministic_time
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return True, spent
    return (False if code == cp_model.INFEASIBLE else None), spent


def screened(problem: Problem) -> bool | None:
    """Whether any plan exists, when screen.py tells without search: a necessary condition fails,
    or a plan it finds (simple, filled) is valid; None when it cannot tell."""
    from planner.placement.screen import filled_plan, proven_infeasible, simple_plan

    if proven_infeasible(problem):
        return False
    if simple_plan(problem) is not None or filled_plan(problem) is not None:
        return True
    return None


def least_shortfall(problem: Problem, time_limit_s: float = 1.0) -> tuple[int | None, dict[int, int]]:
    """Least total bytes of capacity missing when units may not split, and where it is missing
    (device index -> bytes) in a placement that achieves it; None when not proven in time. Exact
    to the byte on problems small enough to solve in bytes or settled by screen.one_gpu_shortfall,
    else to the model's unit per item."""
    from planner.placement.screen import one_gpu_shortfall

    direct = one_gpu_shortfall(problem)
    if direct is not None:
        return direct
    from planner.search.cp_model import load

    cp_model = load()
    from planner.placement.cpsat import PlacementModel

    pm = PlacementModel(problem, slack=True)
    pm.model.minimize(pm.shortfall())
    solver = deterministic_solver(time_limit_s)
    # Unlike the placement stages, this minimum of summed overflows is proven by its linear
    # relaxation: with it and presolve, 70B at 4 x 32k on 8 L40S 0.46 -> 0.03 deterministic
    # seconds; Mixtral-8x7B on three 24 GB cards and 405B on 4 A100s unproven at 5 -> 0.01.
    solver.parameters.linearization_level = 1
    solver.parameters.cp_model_presolve = True
    if run_search(solver, pm.model) != cp_model.OPTIMAL:
        return None, {}
    over = {d: solver.value(v) * pm.unit for d, v in pm.over.items() if solver.value(v) > 0}
    return sum(over.values()), over

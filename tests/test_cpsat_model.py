"""The CP-SAT model's hint and the loads memo: what the solver starts from is the plan it was
given, and a remembered answer is the answer."""

from __future__ import annotations

import itertools
from dataclasses import replace

from hypothesis import given
from test_solver_properties import SETTINGS, candidates, problems

from planner.placement import loads
from planner.placement.cpsat import PlacementModel
from planner.placement.loads import device_loads, objective_values
from planner.placement.verify import verify
from planner.search.cpsat_run import deterministic_solver, run_search


@SETTINGS
@given(problems())
def test_the_model_fixed_to_a_hinted_plan_is_that_plan(problem):
    """Every valid plan, written as the hint and with the hinted variables fixed, is a solution
    of the model whose counts are the plan's: a wrong index or value in the hint would make the
    fixed model infeasible or another plan."""
    from ortools.sat.python import cp_model

    pairs = problem.symmetric_pairs()  # the model uses interchangeable GPUs in order: a plan that does not is its mirror's
    valid = list(itertools.islice((a for a in candidates(problem) if not verify(problem, a)
                                   and all(x in a or y not in a for x, y in pairs)), 4))
    for plan in valid:
        pm = PlacementModel(problem)
        pm.hint(plan)
        solver = deterministic_solver(5.0)
        solver.parameters.fix_variables_to_their_hinted_value = True
        assert run_search(solver, pm.model) in (cp_model.OPTIMAL, cp_model.FEASIBLE)
        got = pm.assignment(solver)
        counts = {}
        for b, (first, size) in enumerate(pm.blocks):
            for i in range(first, first + size):
                counts[b, plan[i]] = counts.get((b, plan[i]), 0) + 1
        assert {k: solver.value(v) for k, v in pm.n.items() if solver.value(v)} == counts
        assert objective_values(problem, got) == objective_values(problem, plan)


@SETTINGS
@given(problems())
def test_remembered_loads_are_the_loads(problem):
    """Past the memo's size, for the problem and for a copy with other capacities at the same
    assignment, device_loads gives what the rules compute afresh."""
    roomier = replace(problem, devices=tuple(replace(d, capacity_bytes=2 * d.capacity_bytes + 7,
                                                          reserve_bytes=d.reserve_bytes + 1) for d in problem.devices))
    plans = list(itertools.islice(candidates(problem), 2 * loads._device_loads.size))
    for _ in range(2):
        for p in (problem, roomier):
            for a in plans:
                assert device_loads(p, a) == loads._device_loads.__wrapped__(p, a)

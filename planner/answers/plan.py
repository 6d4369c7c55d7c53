"""For a sweep: how far short a plan that does not fit falls (the plan itself: ``answer.answer_plan``)."""

from __future__ import annotations

from planner.placement.plan import Plan


def shortfall_reason(result: Plan, time_limit_s: float = 0.5) -> str:
    """One line on why a plan without a placement does not fit: what the screen proves (the
    execution GPU's bound, a unit too large to run), and the proven least shortfall with units
    kept whole; or, for a point the time limit left undecided, that it is undecided."""
    from planner.placement.screen import proven_infeasible
    from planner.placement.solver import least_shortfall
    from planner.units import size_text

    if result.status == "unknown":
        return "not decided within the time limit: no plan found, none ruled out (raise time_limit_s)"
    why = proven_infeasible(result.problem)
    short, _ = least_shortfall(result.problem, time_limit_s)
    amount = f"{size_text(short)} short with units kept whole" if short else None
    return "; ".join(x for x in (amount, why) if x) or "no placement exists (shortfall not proven in time)"

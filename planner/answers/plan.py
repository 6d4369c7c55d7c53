"""``planner plan``: the optimal device_map on an inventory, and, for a sweep, how far short a
plan that does not fit falls."""

from __future__ import annotations

from planner.placement.plan import Plan, make_plan

__all__ = ["Plan", "plan", "shortfall_reason"]


def plan(profile, inventory, objective: str = "gpus", pins=None, weights_only: bool = False, time_limit_s: float = 1.0,
         offload_folder: str = "offload", diagnose: bool = True) -> Plan:
    return make_plan(profile, inventory, objective, pins, weights_only, time_limit_s, offload_folder, diagnose=diagnose)


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


def plan_scenario(sc, diagnose: bool = True) -> Plan:
    """The plan of a scenario (a what-if point or a scenario file): its model, workload, inventory and settings."""
    from planner.answers.inputs import inventory_of, model_spec
    from planner.costs.profile import profile

    return plan(profile(model_spec(sc.model, cache=True), sc.workload), inventory_of(sc.inventory), sc.objective, sc.pins,
                sc.weights_only, sc.time_limit_s, sc.offload_folder, diagnose)

"""``planner plan``: the optimal device_map on an inventory, and, for a sweep, how far short a
plan that does not fit falls."""

from __future__ import annotations

from planner.placement import Plan, make_plan

__all__ = ["Plan", "plan", "shortfall_reason"]


def plan(profile, inventory, objective: str = "gpus", pins=None, weights_only: bool = False, time_limit_s: float = 1.0,
         offload_folder: str = "offload", diagnose: bool = True) -> Plan:
    return make_plan(profile, inventory, objective, pins, weights_only, time_limit_s, offload_folder, diagnose=diagnose)


def shortfall_reason(result: Plan, time_limit_s: float = 0.5) -> str:
    """One line on why a plan without a placement does not fit: the proven least shortfall with
    units kept whole, or that none was proven within the time limit."""
    from planner.solve.solver import least_shortfall
    from planner.units import gib

    short, _ = least_shortfall(result.problem, time_limit_s)
    if short:
        return f"{gib(short)} short with units kept whole"
    return "no placement found" if short == 0 else "does not fit (shortfall not proven in time)"


def plan_scenario(sc, diagnose: bool = True) -> Plan:
    """The plan of a scenario (a what-if point or a scenario file): its model, workload, inventory and settings."""
    from planner.commands.inputs import inventory_of, model_spec
    from planner.costs.profile import profile

    return plan(profile(model_spec(sc.model, cache=True), sc.workload), inventory_of(sc.inventory), sc.objective, sc.pins,
                sc.weights_only, sc.time_limit_s, sc.offload_folder, diagnose)

"""Why a unit sits where a plan puts it: every other device it could go to, checked with the unit
moved there and the rest of the plan kept, against the same rules (``placement.verify``) and the
same objectives in the same order (``placement.loads.objective_values``) the solver used. The
answer is the first rule the move breaks, or the first objective it makes worse; a pin or the
engine's refusal is named as such."""

from __future__ import annotations

from dataclasses import dataclass

from planner.errors import InputError

OBJECTIVE_WORDS = {"offload_ns": "more time moving offloaded weights per forward pass", "gpus": "one more GPU in use",
                   "price": "a higher price of the GPUs in use", "max_utilization": "a fuller fullest GPU",
                   "runs": "more separate runs of layers (one more transfer per pass)"}


@dataclass(frozen=True)
class Explanation:
    unit: str
    item_names: tuple[str, ...]
    """Every unit that moves with it (tied to it, or grouped by the engine)."""
    device: str
    reasons: tuple[tuple[str, str], ...]
    """(other device, why the unit is not there)."""


def _label(dev) -> str:
    return f"GPU {dev.key}" if dev.kind == "gpu" else str(dev.key)


def _item_of(plan, unit: str) -> int:
    names = [(k, n) for k, it in enumerate(plan.problem.items) for n in it.names]
    for k, n in names:
        if n == unit:
            return k
    inside = [(k, n) for k, n in names if unit.startswith(n + ".")]
    if inside:
        return inside[0][0]
    close = [n for _, n in names if n.startswith(unit)][:3]
    raise InputError(f"explain: {unit!r} is not a unit of this plan" + (f"; did you mean {', '.join(close)}?" if close else
                                                                        "; name a module of the device_map"))


def explain(plan, unit: str) -> Explanation:
    from planner.placement.loads import objective_values
    from planner.placement.verify import verify

    if plan.assignment is None:
        raise InputError("explain: there is no placement to explain (the plan does not fit)")
    problem, assignment = plan.problem, plan.assignment
    k = _item_of(plan, unit)
    item, here = problem.items[k], assignment[k]
    best = objective_values(problem, assignment)
    reasons = []
    for d, dev in enumerate(problem.devices):
        if d == here:
            continue
        if d not in item.allowed:
            reasons.append((_label(dev), "not allowed there: a --pin or the engine keeps it off this device"))
            continue
        moved = assignment[:k] + (d,) + assignment[k + 1:]
        broken = verify(problem, moved)
        if broken:
            reasons.append((_label(dev), f"moved there alone, it breaks a rule: {broken[0]}"))
            continue
        values = objective_values(problem, moved)
        worse = next((name for name in best if values[name] != best[name]), None)
        if worse is None:
            reasons.append((_label(dev), "as good on every objective: an equal choice (ties go to the earlier device)"))
        elif values[worse] > best[worse]:
            reasons.append((_label(dev), f"fits, but {OBJECTIVE_WORDS.get(worse, worse)} ({worse} {best[worse]:,} -> "
                                         f"{values[worse]:,})"))
        else:
            reasons.append((_label(dev), f"fits and lowers {worse} alone; the plan is better on an earlier objective"))
    return Explanation(unit, item.names, _label(problem.devices[here]), tuple(reasons))

"""Check any plan against every rule, without a solver: the solver's output, the greedy's, or a
device_map written by hand or by accelerate."""

from __future__ import annotations

from collections.abc import Mapping

from planner.placement.loads import device_loads
from planner.placement.problem import Problem
from planner.units import size_text


def verify(problem: Problem, assignment: tuple[int, ...]) -> list[str]:
    """Every broken rule, one line each; an empty list means the plan is valid."""
    errors: list[str] = []
    if len(assignment) != len(problem.items):
        return [f"assignment places {len(assignment)} items, the problem has {len(problem.items)}"]
    for it, d in zip(problem.items, assignment, strict=True):
        if not 0 <= d < len(problem.devices):
            errors.append(f"{it.names[0]}: device {d} does not exist")
        elif d not in it.allowed:
            errors.append(f"{it.names[0]}: on {problem.devices[d].key}, but allowed only on "
                          f"{', '.join(str(problem.devices[a].key) for a in it.allowed)} (a pin or the engine's rule)")
    if errors:
        return errors
    for dev, load in zip(problem.devices, device_loads(problem, assignment), strict=True):
        if load.total_bytes > dev.capacity_bytes:
            errors.append(f"{dev.kind} {dev.key}: holds {size_text(load.total_bytes)} ({load.total_bytes:,} bytes), capacity "
                          f"{size_text(dev.capacity_bytes)} ({dev.capacity_bytes:,} bytes)")
    sequence = [d for it, d in zip(problem.items, assignment, strict=True) if it.in_sequence]
    starts: dict[int, int] = {}  # runs of each device along the sequence, in one pass
    for k, d in enumerate(sequence):
        if k == 0 or sequence[k - 1] != d:
            starts[d] = starts.get(d, 0) + 1
    for g in problem.gpu_indices:
        if starts.get(g, 0) > 1:
            errors.append(f"gpu {problem.devices[g].key}: holds {starts[g]} separate runs of layers, not one contiguous run")
    return errors


def assignment_from_device_map(problem: Problem, device_map: Mapping[str, int | str]) -> tuple[tuple[int, ...], list[str]]:
    """Item assignment of a device_map (module prefix -> device), with the rules it breaks on the
    way: units it does not cover, tied units it splits, devices the inventory lacks."""
    keys = {str(dev.key): d for d, dev in enumerate(problem.devices)}
    ordered = sorted(device_map.items(), key=lambda kv: -len(kv[0]))
    errors: list[str] = []
    out = []
    for it in problem.items:
        chosen = set()
        for name in it.names:
            match = next((v for k, v in ordered if k == "" or name == k or name.startswith(k + ".")), None)
            if match is None:
                errors.append(f"{name}: not covered by the device_map")
            elif str(match) not in keys:
                errors.append(f"{name}: device {match!r} is not in the inventory")
            else:
                chosen.add(keys[str(match)])
        if len(chosen) > 1:
            errors.append(f"{', '.join(it.names)}: share a tensor but are mapped to different devices")
        out.append(min(chosen) if chosen else -1)
    return tuple(out), errors

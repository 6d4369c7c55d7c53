"""The series a what-if run's charts draw, computed from its answer (``export/plots.py`` only draws):
- ``devices``: per device of the first point that fits (task plan), bytes by category;
- ``panels``: the sweep's small multiples (``answers/sweep_panels.py``): what fits where, memory
  by category, the price of what fits."""

from __future__ import annotations

from dataclasses import dataclass

DEVICE_PARTS = ("weights", "KV cache", "activations", "onload", "reserve", "free")


@dataclass(frozen=True)
class Charts:
    model: str
    task: str
    devices: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """(device name, bytes per DEVICE_PARTS) of the first point that fits, task plan."""
    devices_point: int | None = None
    panels: tuple = ()
    """The sweep's charts (answers/sweep_panels.Panels)."""


def device_bars(plan) -> tuple:
    devs = [d for d in plan.devices if d.kind == "gpu"] or list(plan.devices)
    return tuple((f"GPU {d.key}" if d.kind == "gpu" else str(d.key),
                  (d.load.weights_bytes, d.load.kv_bytes, d.load.activation_bytes, d.load.buffer_bytes, d.load.reserve_bytes,
                   max(d.free_bytes, 0))) for d in devs)


def chart_series(answer) -> Charts:
    """Every series the charts of a WhatIfAnswer draw."""
    from planner.answers.answer import answer_plan
    from planner.answers.sweep_panels import sweep_panels
    from planner.placement.plan import Plan
    from planner.whatif.schema import request_of

    base = answer.points[0].scenario
    devices, index = (), None
    if answer.task == "plan":
        fitting = next((p for p, r in zip(answer.points, answer.results, strict=True) if r.get("fits")), None)
        if fitting is not None:
            plan = answer_plan(request_of(fitting.scenario), reuse_models=True, diagnose=False)
            if isinstance(plan, Plan):  # a transformers plan, not a llama.cpp split
                devices = device_bars(plan)
                index = fitting.index
    panels = sweep_panels(answer.task, list(answer.rows)) if answer.rows else ()
    return Charts(base.model, answer.task, devices, index, panels)

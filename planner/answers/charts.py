"""The series a what-if run's charts draw, computed from its answer (``export/plots.py`` only draws):
- ``devices``: per device of the first point that fits (task plan), bytes by category;
- ``memory``: total memory of the base scenario against context length, per precision, and the
  first GPU's capacity;
- ``sweep``: every point of the sweep (``answers/sweep_series.py``)."""

from __future__ import annotations

from dataclasses import dataclass

CONTEXTS = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
PRECISIONS = (("bf16", {"dtype": "bf16", "quant": "none"}), ("fp8", {"dtype": "bf16", "quant": "fp8"}),
              ("int8", {"dtype": "bf16", "quant": "int8"}), ("nf4", {"dtype": "bf16", "quant": "nf4"}))
DEVICE_PARTS = ("weights", "KV cache", "activations", "onload", "reserve", "free")


@dataclass(frozen=True)
class Charts:
    model: str
    task: str
    devices: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """(device name, bytes per DEVICE_PARTS) of the first point that fits, task plan."""
    devices_point: int | None = None
    memory: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()
    """(precision, ((context, total bytes), ...)) of the base scenario."""
    batch: int = 1
    capacity: tuple[str, int] | None = None
    """(label, bytes) of the first GPU of the inventory, drawn across the memory chart."""
    sweep: object = None
    """The sweep's series (answers/sweep_series.Series)."""


def _device_bars(plan) -> tuple:
    devs = [d for d in plan.devices if d.kind == "gpu"] or list(plan.devices)
    return tuple((f"GPU {d.key}" if d.kind == "gpu" else str(d.key),
                  (d.load.weights_bytes, d.load.kv_bytes, d.load.activation_bytes, d.load.buffer_bytes, d.load.reserve_bytes,
                   max(d.free_bytes, 0))) for d in devs)


def _memory(sc) -> tuple:
    from planner.answers.inputs import model_spec
    from planner.costs.profile import profile
    from planner.errors import PlannerError

    spec = model_spec(sc.model, cache=True)
    out = []
    for label, change in PRECISIONS:
        points = []
        for ctx in CONTEXTS:
            w = sc.workload.model_copy(update={**change, "prompt_tokens": ctx, "new_tokens": 0, "logits": "last"})
            try:
                points.append((ctx, profile(spec, w).total_bytes))
            except PlannerError:  # past the context limit, or a precision the engine refuses for this model
                continue
        out.append((label, tuple(points)))
    return tuple(out)


def chart_series(answer) -> Charts:
    """Every series the charts of a WhatIfAnswer draw."""
    from planner.answers.answer import answer_plan
    from planner.answers.inputs import inventory_of
    from planner.answers.sweep_series import sweep_series
    from planner.whatif.schema import request_of

    base = answer.points[0].scenario
    capacity = None
    if base.inventory.gpus:
        capacity = (f"one {base.inventory.gpus[0]}", inventory_of(base.inventory).gpus[0].capacity_bytes)
    devices, index = (), None
    if answer.task == "plan":
        fitting = next((p for p, r in zip(answer.points, answer.results, strict=True) if r.get("fits")), None)
        if fitting is not None:
            devices = _device_bars(answer_plan(request_of(fitting.scenario), reuse_models=True, diagnose=False))
            index = fitting.index
    sweep = sweep_series(answer.task, list(answer.rows)) if answer.rows else None
    return Charts(base.model, answer.task, devices, index, _memory(base), base.workload.batch, capacity, sweep)

"""The chart of a what-if sweep, drawn from the rows themselves: one value per point, so every
point of the sweep is on it. The data is a pure function of the rows (``sweep_series``), which
the test compares with the rows; ``export/sweep_chart.py`` only draws it.

- The measure depends on the task: memory for estimate, plan and training (a plan's weights + KV
  + activations as placed, so a KV-dtype or context sweep shows), the price (or the GPU count
  when unpriced) for size.
- With one swept axis the x axis is that axis. With several, the x axis is the swept axis with
  the most values (a numeric one first, e.g. context length) and each combination of the other
  axes is its own series, so a sweep of 3 GPU types x 2 precisions draws two series of three.
- Points that do not fit have no value (a gap), so a missing bar means "does not fit".
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.units import GiB

MEASURES = {
    "estimate": [("total_bytes", "weights + KV + activation peak, GiB (2^30 bytes)", GiB)],
    "training": [("peak_bytes", "peak per GPU, GiB (2^30 bytes)", GiB)],
    "plan": [("memory_bytes", "weights + KV + activations placed, GiB (2^30 bytes)", GiB)],
    "size": [("price_usd", "USD to buy", 1), ("price_usd_per_hour", "USD per hour", 1), ("gpus_used", "GPUs", 1)],
}


@dataclass(frozen=True)
class Series:
    key: str
    """The result field drawn, divided by ``scale``."""
    scale: float
    x_label: str
    y_label: str
    x_values: tuple
    lines: dict[str, tuple[float | None, ...]]
    """Series label -> one value per x value (None: that point does not fit or has no value)."""


def value_of(results: dict, key: str):
    """A row's value of ``key``; ``memory_bytes`` is a plan's weights + KV + activations."""
    if key == "memory_bytes" and results.get("weights_bytes") is not None:
        return sum(results.get(k) or 0 for k in ("weights_bytes", "kv_bytes", "activation_bytes"))
    return results.get(key)


def _measure(task: str, rows: list[dict]) -> tuple[str, str, float]:
    for key, label, scale in MEASURES.get(task, MEASURES["estimate"]):
        if any(value_of(r["results"], key) is not None for r in rows):
            return key, label, scale
    key, label, scale = MEASURES.get(task, MEASURES["estimate"])[-1]
    return key, label, scale


def _x_axis(rows: list[dict]) -> str | None:
    axes = list(rows[0]["axes"]) if rows else []
    if not axes:
        return None

    def rank(name: str):
        values = {str(r["axes"].get(name)) for r in rows}
        numeric = all(isinstance(r["axes"].get(name), int | float) for r in rows)
        return (not numeric, -len(values), axes.index(name))

    return min(axes, key=rank)


def text(value) -> str:
    """A swept value as a label: lists (several GPU types) joined with +."""
    return "+".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def sweep_series(task: str, rows: list[dict]) -> Series:
    key, y_label, scale = _measure(task, rows)
    x_axis = _x_axis(rows)
    x_values: list = []
    for r in rows:
        x = r["axes"].get(x_axis) if x_axis else r["point"]
        if x not in x_values:
            x_values.append(x)
    lines: dict[str, list[float | None]] = {}
    for r in rows:
        others = {k: v for k, v in r["axes"].items() if k != x_axis}
        label = ", ".join(f"{k}={text(v)}" for k, v in others.items()) or (key if x_axis else "points")
        line = lines.setdefault(label, [None] * len(x_values))
        value = value_of(r["results"], key) if r["results"].get("fits") is not False else None
        x = r["axes"].get(x_axis) if x_axis else r["point"]
        line[x_values.index(x)] = None if value is None else value / scale
    return Series(key, scale, x_axis or "point", y_label, tuple(x_values), {k: tuple(v) for k, v in lines.items()})

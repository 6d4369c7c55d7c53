"""Small multiples of a what-if sweep, whatever its shape, computed from the rows alone (the
drawing in ``export/sweep_chart.py`` and the HTML report only draw them).

The swept axes are split three ways: the x axis (the numeric axis with the most values, else the
axis with the most values), colour for at most one more (the remaining axis with the fewest values,
at most ``MAX_COLOURS``), and one panel per combination of the rest (the outer axes). Each chart
answers one question:
- ``fits``: the task's measure (memory placed or needed, or the price for size) at every point,
  a gap where the point does not fit;
- ``categories``: memory by category (weights, KV cache, activations) stacked, per point;
- ``cost``: the price of what fits (size, or a plan of priced GPUs), when the rows have one.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

from planner.answers.sweep_series import text, value_of
from planner.units import GiB, MiB

MAX_COLOURS = 10
CATEGORIES = (("weights_bytes", "weights"), ("kv_bytes", "KV cache"), ("activation_bytes", "activations"))
MEASURES = {"estimate": ("total_bytes", "memory needed"), "training": ("peak_bytes", "peak memory per GPU"),
            "plan": ("memory_bytes", "memory placed"), "size": ("price_usd", "price to buy")}


@dataclass(frozen=True)
class Panels:
    question: str
    """The chart's title, in the sweep's own terms."""
    key: str
    y_label: str
    scale: float
    x_label: str
    x_values: tuple
    colour_label: str | None
    colours: tuple[str, ...]
    """Legend entries: the colour axis's values, or the categories of a stacked chart."""
    panel_labels: tuple[str, ...]
    values: tuple[tuple[tuple[float | None, ...], ...], ...]
    """[panel][colour][x] in ``y_label``'s unit; None: no value (does not fit)."""
    stacked: bool = False


def _values(rows: list[dict], axis: str) -> list:
    out = []
    for r in rows:
        v = r["axes"].get(axis)
        if not any(v == o for o in out):
            out.append(v)
    return out


def split_axes(rows: list[dict]) -> tuple[str | None, str | None, tuple[str, ...]]:
    """(x axis, colour axis, panel axes) of a sweep."""
    axes = list(rows[0]["axes"]) if rows else []
    if not axes:
        return None, None, ()

    def numeric(name):
        return all(isinstance(r["axes"].get(name), int | float) and not isinstance(r["axes"].get(name), bool) for r in rows)

    x = min(axes, key=lambda a: (not numeric(a), -len(_values(rows, a)), axes.index(a)))
    rest = [a for a in axes if a != x]
    fits = [a for a in rest if len(_values(rows, a)) <= MAX_COLOURS]
    colour = min(fits, key=lambda a: (len(_values(rows, a)), rest.index(a))) if fits else None
    return x, colour, tuple(a for a in rest if a != colour)


def short(axis: str) -> str:
    """An axis by its field name alone (``workload.kv_dtype`` -> ``kv_dtype``), as panel titles name it."""
    return axis.rsplit(".", 1)[-1]


def byte_unit(largest: float) -> tuple[float, str]:
    return (1024 * GiB, "TiB") if largest >= 1024 * GiB else (GiB, "GiB") if largest >= GiB else (MiB, "MiB")


def _grid(rows, x, colour, panels, pick) -> tuple[tuple, tuple, tuple, list]:
    x_values = tuple(_values(rows, x)) if x else tuple(r["point"] for r in rows)
    colours = tuple(_values(rows, colour)) if colour else (None,)
    combos = list(product(*(_values(rows, a) for a in panels))) or [()]
    grid = [[[None] * len(x_values) for _ in colours] for _ in combos]
    for r in rows:
        key = tuple(r["axes"].get(a) for a in panels)
        p = next(i for i, c in enumerate(combos) if c == key)
        c = next(i for i, v in enumerate(colours) if v == (r["axes"].get(colour) if colour else None))
        xi = next(i for i, v in enumerate(x_values) if v == (r["axes"].get(x) if x else r["point"]))
        grid[p][c][xi] = pick(r)
    labels = tuple(", ".join(f"{short(a)}={text(v)}" for a, v in zip(panels, combo, strict=True)) for combo in combos)
    return x_values, colours, labels, grid


def _scaled(grid, key: str) -> tuple[float, str, tuple]:
    largest = max((v for panel in grid for line in panel for v in line if v is not None), default=0)
    scale, unit = byte_unit(largest) if key.endswith("_bytes") else (1.0, "USD" if "price" in key else "")
    return scale, unit, tuple(tuple(tuple(None if v is None else v / scale for v in line) for line in panel)
                              for panel in grid)


def fits_panels(task: str, rows: list[dict], key: str | None = None, what: str | None = None) -> Panels:
    """The task's measure at every point (a gap where it does not fit)."""
    key, what = (key, what) if key else MEASURES.get(task, MEASURES["estimate"])
    if task == "size" and not any(value_of(r["results"], key) is not None for r in rows):
        key, what = "gpus_used", "GPUs"
    x, colour, panels = split_axes(rows)

    def pick(r):
        return value_of(r["results"], key) if r["results"].get("fits") is not False else None

    x_values, colours, labels, grid = _grid(rows, x, colour, panels, pick)
    scale, unit, values = _scaled(grid, key)
    return Panels(f"{what} by {x or 'point'}" + (f" and {colour}" if colour else "") + " (a gap: does not fit)", key,
                  f"{what}, {unit}".rstrip(", "), scale, x or "point", x_values, colour,
                  tuple(text(c) for c in colours) if colour else (what,), labels, values)


def category_panels(rows: list[dict]) -> Panels | None:
    """Memory by category, stacked: colour is the category, every swept axis but x makes panels."""
    if not any(r["results"].get("weights_bytes") is not None for r in rows):
        return None
    x, colour, panels = split_axes(rows)
    panels = tuple(a for a in (colour, *panels) if a)
    x_values, _, labels, _ = _grid(rows, x, None, panels, lambda r: None)
    combos = list(product(*(_values(rows, a) for a in panels))) or [()]
    grid = [[[None] * len(x_values) for _ in CATEGORIES] for _ in combos]
    for r in rows:
        p = combos.index(tuple(r["axes"].get(a) for a in panels))
        xi = next(i for i, v in enumerate(x_values) if v == (r["axes"].get(x) if x else r["point"]))
        for c, (k, _) in enumerate(CATEGORIES):
            grid[p][c][xi] = r["results"].get(k) if r["results"].get("fits") is not False else None
    scale, unit, values = _scaled(grid, "memory_bytes")
    return Panels(f"memory by category at each {x or 'point'}", "memory_bytes", f"memory, {unit}", scale, x or "point",
                  x_values, None, tuple(label for _, label in CATEGORIES), labels, values, stacked=True)


def cost_panels(task: str, rows: list[dict]) -> Panels | None:
    """The hourly (else purchase) price of what fits, when the rows carry one and it is not the main measure."""
    for key, what in (("price_usd_per_hour", "USD per hour"), ("price_usd", "price to buy")):
        if any(r["results"].get(key) is not None for r in rows) and not (task == "size" and key == "price_usd"):
            return fits_panels(task, rows, key, what)
    return None


def sweep_panels(task: str, rows: list[dict]) -> tuple[Panels, ...]:
    """Every chart of a sweep, in the order a reader asks: what fits where, memory by category, cost."""
    out = [fits_panels(task, rows)]
    for extra in (category_panels(rows) if task != "size" else None, cost_panels(task, rows)):
        if extra is not None:
            out.append(extra)
    return tuple(out)

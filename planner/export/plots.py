"""Charts of a what-if run, as PNG and SVG (matplotlib, the ``plots`` extra), written atomically
and without timestamps so the same input draws the same files. Draws only: the series come
computed in ``answers/charts.Charts``:
- ``plan_devices``: per device of the first point that fits, stacked weights / KV / activations /
  onload room / reserve, and the free memory (task plan);
- ``memory_vs_context``: total memory of the base scenario against context length, one line per
  precision, with the first GPU's capacity drawn across;
- ``sweep``: every point of the sweep (export/sweep_chart.py), for every task.
"""

from __future__ import annotations

from pathlib import Path

from planner.answers.charts import DEVICE_PARTS, Charts
from planner.errors import InputError
from planner.files import make_folder
from planner.units import GiB


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise InputError("plot: needs matplotlib; install it with: pip install 'planner[plots]'") from None
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "planner"
    import matplotlib.pyplot as plt

    return plt


def _save(fig, folder: Path, stem: str) -> list[Path]:
    """Write the figure as PNG and SVG, each whole or not at all, then free it."""
    import io

    import matplotlib.pyplot as plt

    from planner.files import write_bytes_atomic

    out = []
    try:
        for ext, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
            buf = io.BytesIO()
            fig.savefig(buf, format=ext, metadata=meta, dpi=110, bbox_inches="tight")
            target = folder / f"{stem}.{ext}"
            write_bytes_atomic(target, buf.getvalue(), "plot")
            out.append(target)
    finally:
        plt.close(fig)
    return out


def _plan_devices(plt, folder: Path, charts: Charts) -> list[Path]:
    names = [name for name, _ in charts.devices]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 4))
    bottom = [0.0] * len(names)
    for k, label in enumerate(DEVICE_PARTS):
        values = [parts[k] / GiB for _, parts in charts.devices]
        ax.bar(names, values, bottom=bottom, label=label, color=None if label != "free" else "#dddddd")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("GiB (2^30 bytes)")
    ax.set_title(f"{charts.model}: plan of point {charts.devices_point}")
    ax.legend(fontsize=8)
    return _save(fig, folder, "plan_devices")


def _coincide(a: tuple, b: tuple) -> bool:
    """Two series at the same contexts within 0.5% (fp8 and int8 hold one byte per quantized weight,
    but not always over the same modules: bitsandbytes leaves fused experts in 16 bits)."""
    return [c for c, _ in a] == [c for c, _ in b] and all(abs(x - y) <= 0.005 * y for (_, x), (_, y) in zip(a, b, strict=True))


def _memory_vs_context(plt, folder: Path, charts: Charts) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6, 4))
    series = dict(charts.memory)
    for (label, points), style, marker in zip(charts.memory, ("-", "--", ":", "-."), ("o", "s", "^", "D"), strict=True):
        if not points:
            continue
        same = " (same bytes as int8)" if label == "fp8" and _coincide(series["fp8"], series["int8"]) else ""
        ax.plot([c for c, _ in points], [t / GiB for _, t in points], marker=marker,
                markersize=7 if same else 4, linestyle=style, label=label + same)
    if charts.capacity is not None:
        label, cap = charts.capacity
        ax.axhline(cap / GiB, color="grey", linestyle="--", label=f"{label} ({cap / GiB:.1f} GiB)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"context length (tokens), batch {charts.batch}")
    ax.set_ylabel("weights + KV + activation peak, GiB")
    ax.set_title(f"{charts.model}: memory vs context")
    ax.legend(fontsize=8)
    return _save(fig, folder, "memory_vs_context")


def write_plots(folder: str | Path, charts: Charts) -> list[Path]:
    folder = make_folder(folder, "plot")
    plt = _pyplot()
    files = _memory_vs_context(plt, folder, charts)
    if charts.devices:
        files += _plan_devices(plt, folder, charts)
    if charts.sweep is not None:
        from planner.export.sweep_chart import draw

        files += _save(draw(plt, charts.sweep, f"{charts.model}: {charts.task} sweep"), folder, "sweep")
    return files

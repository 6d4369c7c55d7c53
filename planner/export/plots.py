"""Charts of a what-if run, as PNG and SVG (matplotlib, the ``plots`` extra), written atomically
and without timestamps so the same input draws the same files. Draws only: the series come
computed in ``answers/charts.Charts``:
- ``plan_devices``: per device of the first point that fits, stacked weights / KV / activations /
  onload room / reserve, and the free memory (task plan);
- ``fits``, ``memory_by_category``, ``cost``: the sweep's small multiples (answers/sweep_panels.py,
  drawn by export/sweep_chart.py): what fits where, memory by category, the price of what fits.
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


def write_plots(folder: str | Path, charts: Charts) -> list[Path]:
    folder = make_folder(folder, "plot")
    plt = _pyplot()
    files = []
    if charts.devices:
        files += _plan_devices(plt, folder, charts)
    from planner.export.sweep_chart import draw_panels

    for panels in charts.panels:
        stem = "memory_by_category" if panels.stacked else "cost" if "USD" in panels.y_label and charts.task != "size" \
            else "fits"
        files += _save(draw_panels(plt, panels, f"{charts.model}: {panels.question}"), folder, stem)
    return files

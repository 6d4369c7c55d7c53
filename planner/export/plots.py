"""Charts of a what-if run, as PNG and SVG (matplotlib, the ``plots`` extra), written atomically
and without timestamps so the same input draws the same files:
- ``plan_devices``: per device of the first point that fits, stacked weights / KV / activations /
  onload room / reserve, and the free memory (task plan);
- ``memory_vs_context``: total memory of the base scenario against context length, one line per
  precision, with the first GPU's capacity drawn across;
- ``sweep``: every point of the sweep, one series per combination of the other swept axes
  (export/sweep_chart.py), for every task.
"""

from __future__ import annotations

from pathlib import Path

from planner.errors import InputError
from planner.files import make_folder
from planner.units import GiB

CONTEXTS = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
PRECISIONS = [("bf16", {"dtype": "bf16", "quant": "none"}), ("fp8", {"dtype": "bf16", "quant": "fp8"}),
              ("int8", {"dtype": "bf16", "quant": "int8"}), ("nf4", {"dtype": "bf16", "quant": "nf4"})]


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


def _plan_devices(plt, folder: Path, point) -> list[Path]:
    from planner.answers.plan import plan_scenario

    sc = point.scenario
    plan = plan_scenario(sc, diagnose=False)
    devs = [d for d in plan.devices if d.kind == "gpu"] or list(plan.devices)
    names = [f"GPU {d.key}" if d.kind == "gpu" else str(d.key) for d in devs]
    parts = [("weights", lambda d: d.load.weights_bytes), ("KV cache", lambda d: d.load.kv_bytes),
             ("activations", lambda d: d.load.activation_bytes), ("onload", lambda d: d.load.buffer_bytes),
             ("reserve", lambda d: d.load.reserve_bytes), ("free", lambda d: max(d.free_bytes, 0))]
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(devs) + 2), 4))
    bottom = [0.0] * len(devs)
    for label, get in parts:
        values = [get(d) / GiB for d in devs]
        ax.bar(names, values, bottom=bottom, label=label, color=None if label != "free" else "#dddddd")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("GiB (2^30 bytes)")
    ax.set_title(f"{sc.model}: plan of point {point.index}")
    ax.legend(fontsize=8)
    return _save(fig, folder, "plan_devices")


def _coincide(a: list, b: list) -> bool:
    """Two series at the same contexts within 0.5% (fp8 and int8 hold one byte per quantized weight,
    but not always over the same modules: bitsandbytes leaves fused experts in 16 bits)."""
    return [c for c, _ in a] == [c for c, _ in b] and all(abs(x - y) <= 0.005 * y for (_, x), (_, y) in zip(a, b, strict=True))


def _memory_vs_context(plt, folder: Path, point) -> list[Path]:
    from planner.answers.inputs import model_spec
    from planner.costs.profile import profile
    from planner.errors import PlannerError

    sc = point.scenario
    spec = model_spec(sc.model, cache=True)
    fig, ax = plt.subplots(figsize=(6, 4))
    series = {}
    for label, change in PRECISIONS:
        points = []
        for ctx in CONTEXTS:
            w = sc.workload.model_copy(update={**change, "prompt_tokens": ctx, "new_tokens": 0, "logits": "last"})
            try:
                points.append((ctx, profile(spec, w).total_bytes / GiB))
            except PlannerError:  # past the context limit, or a precision the engine refuses for this model
                continue
        series[label] = points
    for (label, _), style, marker in zip(PRECISIONS, ("-", "--", ":", "-."), ("o", "s", "^", "D"), strict=True):
        if not series[label]:
            continue
        same = " (same bytes as int8)" if label == "fp8" and _coincide(series["fp8"], series["int8"]) else ""
        ax.plot([c for c, _ in series[label]], [t for _, t in series[label]], marker=marker,
                markersize=7 if same else 4, linestyle=style, label=label + same)
    if sc.inventory.gpus:
        from planner.answers.inputs import inventory_of

        cap = inventory_of(sc.inventory).gpus[0].capacity_bytes / GiB
        ax.axhline(cap, color="grey", linestyle="--", label=f"one {sc.inventory.gpus[0]} ({cap:.1f} GiB)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"context length (tokens), batch {sc.workload.batch}")
    ax.set_ylabel("weights + KV + activation peak, GiB")
    ax.set_title(f"{sc.model}: memory vs context")
    ax.legend(fontsize=8)
    return _save(fig, folder, "memory_vs_context")


def write_plots(folder: str | Path, task: str, rows: list[dict], points) -> list[Path]:
    folder = make_folder(folder, "plot")
    plt = _pyplot()
    files = _memory_vs_context(plt, folder, points[0])
    if task == "plan":
        fitting = next((p for p, r in zip(points, rows, strict=True) if r["results"].get("fits")), None)
        if fitting is not None:
            files += _plan_devices(plt, folder, fitting)
    from planner.export.sweep_chart import draw, sweep_series

    if rows:
        files += _save(draw(plt, sweep_series(task, rows), f"{points[0].scenario.model}: {task} sweep"), folder, "sweep")
    return files

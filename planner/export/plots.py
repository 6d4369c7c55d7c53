"""Charts of a what-if run, as PNG and SVG (matplotlib, the ``plots`` extra), written atomically
and without timestamps so the same input draws the same files:
- ``plan_devices``: per device of the first point that fits, stacked weights / KV / activations /
  onload room / reserve, and the free memory (task plan);
- ``memory_vs_context``: total memory of the base scenario against context length, one line per
  precision, with the first GPU's capacity drawn across;
- ``cost_by_gpu``: the cheapest answer per GPU type (task size), or the price of each point's
  GPUs (task plan).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from planner.errors import InputError
from planner.files import default_mode
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
    """Write the figure as PNG and SVG, atomically, then free it."""
    import matplotlib.pyplot as plt

    out = []
    for ext, meta in (("png", {"Software": None}), ("svg", {"Date": None, "Creator": None})):
        target = folder / f"{stem}.{ext}"
        fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".{ext}", dir=folder)
        os.close(fd)
        try:
            fig.savefig(tmp, format=ext, metadata=meta, dpi=110, bbox_inches="tight")
            os.chmod(tmp, default_mode())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        out.append(target)
    plt.close(fig)
    return out


def _plan_devices(plt, folder: Path, point) -> list[Path]:
    from planner.costs.profile import profile
    from planner.placement import make_plan
    from planner.whatif.run import _inventory, _spec

    sc = point.scenario
    plan = make_plan(profile(_spec(sc.model), sc.workload), _inventory(sc), sc.objective, sc.pins, sc.weights_only,
                     sc.time_limit_s, diagnose=False)
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


def _memory_vs_context(plt, folder: Path, point) -> list[Path]:
    from planner.costs.profile import profile
    from planner.whatif.run import _spec

    sc = point.scenario
    spec = _spec(sc.model)
    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, change), style in zip(PRECISIONS, ("-", "--", ":", "-."), strict=True):
        totals = []
        for ctx in CONTEXTS:
            w = sc.workload.model_copy(update={**change, "prompt_tokens": ctx, "new_tokens": 0, "logits": "last"})
            totals.append(profile(spec, w).total_bytes / GiB)
        ax.plot(CONTEXTS, totals, marker="o", linestyle=style, label=label)
    if sc.inventory.gpus:
        from planner.whatif.run import _inventory

        cap = _inventory(sc).gpus[0].capacity_bytes / GiB
        ax.axhline(cap, color="grey", linestyle="--", label=f"one {sc.inventory.gpus[0]} ({cap:.1f} GiB)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel(f"context length (tokens), batch {sc.workload.batch}")
    ax.set_ylabel("weights + KV + activation peak, GiB")
    ax.set_title(f"{sc.model}: memory vs context")
    ax.legend(fontsize=8)
    return _save(fig, folder, "memory_vs_context")


def _cost_by_gpu(plt, folder: Path, task: str, rows: list[dict], point) -> list[Path]:
    if task == "size":
        from planner.catalog import find_gpu, gpu_types
        from planner.costs.profile import profile
        from planner.solve.sizing import size
        from planner.whatif.run import _spec

        sc = point.scenario
        s = sc.size
        prof = profile(_spec(sc.model), sc.workload.model_copy(update={"engine": "vllm"}))
        answer = size(prof, [find_gpu(g) for g in s.gpu_types] or list(gpu_types()), s.context or prof.workload.total_tokens,
                      s.concurrency or prof.workload.batch, s.objective, max_gpus=s.max_gpus)
        labels = [c.gpu.name for c, _ in answer.alternatives]
        values = [c.cost(s.objective) * n for c, n in answer.alternatives]
        unit = {"price": "USD to buy", "hourly": "USD per hour", "gpus": "GPUs"}[s.objective]
    else:
        fitting = [r for r in rows if r["results"].get("price_usd_per_hour")]
        labels = [str(r["point"]) for r in fitting]
        values = [r["results"]["price_usd_per_hour"] for r in fitting]
        unit = "USD per hour of the GPUs used"
    if not values:
        return []
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * len(values) + 2), 4))
    ax.bar(labels, values)
    ax.set_ylabel(unit)
    ax.set_xlabel("GPU type" if task == "size" else "point")
    ax.tick_params(axis="x", rotation=60)
    ax.set_title("cost by GPU type" if task == "size" else "cost by point")
    return _save(fig, folder, "cost_by_gpu")


def write_plots(folder: str | Path, task: str, rows: list[dict], points) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    files = _memory_vs_context(plt, folder, points[0])
    if task == "plan":
        fitting = next((p for p, r in zip(points, rows, strict=True) if r["results"].get("fits")), None)
        if fitting is not None:
            files += _plan_devices(plt, folder, fitting)
    files += _cost_by_gpu(plt, folder, task, rows, points[0])
    return files

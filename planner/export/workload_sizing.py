"""`planner size --mode training|compression`: the ranked GPU types as a table and as JSON. Formats only."""

from __future__ import annotations

import json

from planner.answers.size import SizedOption, WorkloadAnswer
from planner.export.table import Column, Table, render


def _extra(a: WorkloadAnswer, o: SizedOption) -> dict:
    if a.mode == "training":
        from planner.export.training_report import deepspeed_config

        return {"data_parallel": o.data_parallel, "deepspeed_config": deepspeed_config(o.cost)}
    from planner.export.compression_report import settings_text
    from planner.sizing.compression import oneshot_args

    return {"settings": settings_text(o.cost), "oneshot": oneshot_args(a.model, a.profile, o.cost)}


def _row(a: WorkloadAnswer, o: SizedOption) -> dict:
    return {"type": o.gpu.name, "count": o.count, "node": 0, "gpu_peak_bytes": o.gpu_peak_bytes, "price_usd": o.price_usd,
            "price_usd_per_hour": o.price_usd_per_hour, "tco_usd": o.tco_usd,
            "cpu_bytes_per_node": getattr(o.cost, "cpu_bytes", None), **_extra(a, o)}


def workload_doc(a: WorkloadAnswer) -> dict:
    rows = [_row(a, o) for o in a.options]
    best = rows[0] if rows else None
    return {"status": "optimal" if best else "infeasible", "objective": a.objective,
            "gpus": [{k: best[k] for k in ("type", "count", "node")}] if best else [],
            "price_usd": best and best["price_usd"], "price_usd_per_hour": best and best["price_usd_per_hour"],
            "best": best, "alternatives": rows}


def workload_json(a: WorkloadAnswer) -> str:
    return json.dumps(workload_doc(a), indent=2) + "\n"


def workload_blocks(a: WorkloadAnswer) -> list:
    if a.best is None:
        return [f"INFEASIBLE: no GPU type in the list can run this {a.mode} "
                "(try checkpointing, ZeRO 3, offload, LoRA, or a leaner setting)"]
    columns = [Column("type", "type"), Column("count", "GPUs", "count"), Column("gpu_peak_bytes", "peak", "bytes"),
               Column("price_usd", "USD", "usd"), Column("price_usd_per_hour", "USD/h", "usd_per_hour")]
    if a.objective == "tco":
        columns.append(Column("tco_usd", "TCO USD (price + GPU power)", "usd"))
    if any(getattr(o.cost, "cpu_bytes", 0) for o in a.options):  # offloaded states: the host must hold them
        columns.append(Column("cpu_bytes", "CPU RAM per node", "bytes"))
    t = Table(columns, main=True)
    for o in a.options:
        t.add(type=o.gpu.name, count=o.count, gpu_peak_bytes=o.gpu_peak_bytes, price_usd=o.price_usd,
              price_usd_per_hour=o.price_usd_per_hour, tco_usd=o.tco_usd, cpu_bytes=getattr(o.cost, "cpu_bytes", None))
    return [f"Cheapest for this {a.mode} ({a.objective}): {a.best.count} x {a.best.gpu.name}", "", t]


def workload_table(a: WorkloadAnswer, fmt: str = "text") -> str:
    return render(workload_blocks(a), fmt)

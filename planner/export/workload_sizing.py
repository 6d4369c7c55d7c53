"""`planner size --mode training|compression`: the fewest or cheapest GPUs for those workloads."""

from __future__ import annotations

import json

from planner.catalog import GpuType
from planner.costs.profile import Profile
from planner.hardware.prices import price_of
from planner.units import GiB

_KEY = {"price": lambda h: (h["price_usd"] is None, h["price_usd"] or 0, h["count"]),
        "hourly": lambda h: (h["price_usd_per_hour"] is None, h["price_usd_per_hour"] or 0, h["count"]),
        "gpus": lambda h: (h["count"], h["price_usd_per_hour"] or 0)}


def _row(gpu: GpuType, count: int, peak: int, extra: dict) -> dict:
    return {"type": gpu.name, "count": count, "node": 0, "gpu_peak_bytes": peak,
            "price_usd": price_of(gpu, count)[0], "price_usd_per_hour": price_of(gpu, count)[1], **extra}


def training_rows(profile: Profile, setup, types: list[GpuType]) -> list[dict]:
    from planner.export.training_report import deepspeed_config
    from planner.solve.training_hardware import training_hardware

    rows = []
    for h in training_hardware(profile, setup, types):
        from dataclasses import replace

        from planner.costs.training import training_cost

        cost = training_cost(profile, replace(setup, gpus=h.gpus))
        rows.append(_row(h.gpu, h.gpus * setup.tp * setup.pp, h.gpu_peak_bytes,
                         {"data_parallel": h.gpus, "deepspeed_config": deepspeed_config(cost)}))
    return rows


def compression_rows(model: str, profile: Profile, setup, types: list[GpuType]) -> list[dict]:
    from planner.export.compression_report import _settings
    from planner.solve.compression_plan import oneshot_args, recommend

    rows = []
    for gpu in types:
        rec = recommend(profile, gpu, setup)
        if rec.cost is not None:
            rows.append(_row(gpu, 1, rec.cost.gpu_peak_bytes, {"settings": _settings(rec.cost),
                                                               "oneshot": oneshot_args(model, profile, rec.cost)}))
    return rows


def answer(rows: list[dict], objective: str) -> dict:
    ranked = sorted(rows, key=_KEY[objective])
    best = ranked[0] if ranked else None
    return {"status": "optimal" if best else "infeasible", "objective": objective,
            "gpus": [{k: best[k] for k in ("type", "count", "node")}] if best else [],
            "price_usd": best and best["price_usd"], "price_usd_per_hour": best and best["price_usd_per_hour"],
            "best": best, "alternatives": ranked}


def to_json(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"


def to_table(what: str, doc: dict) -> str:
    if not doc["best"]:
        return f"INFEASIBLE: no GPU type in the list can run this {what} (try checkpointing, ZeRO 3, offload, LoRA, or a leaner setting)"
    out = [f"Cheapest for this {what} ({doc['objective']}): {doc['best']['count']} x {doc['best']['type']}", "",
           f"{'type':<14}{'GPUs':>6}{'peak GiB':>10}{'USD':>10}{'USD/h':>8}"]
    for r in doc["alternatives"]:
        usd = f"{r['price_usd']:,.0f}" if r["price_usd"] else "-"
        hour = f"{r['price_usd_per_hour']:.2f}" if r["price_usd_per_hour"] else "-"
        out.append(f"{r['type']:<14}{r['count']:>6}{r['gpu_peak_bytes'] / GiB:>10.2f}{usd:>10}{hour:>8}")
    return "\n".join(out)

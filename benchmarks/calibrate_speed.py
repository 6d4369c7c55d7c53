"""Fit the serving speed model to published runs, and print predicted vs published.

The runs are ``catalogs/speed_benchmarks.yaml`` (NeMo / TensorRT-LLM latency tables for
Llama-2-7B on A100 and H100 at TP 1-8 and batch 1-8; a vLLM single-stream decode on A100-40GB).
The constants fitted are the HBM and compute efficiencies, the per-step overhead of vLLM and of
TensorRT-LLM, and the all-reduce latency of NVLink 3 (A100) and NVLink 4 (H100) with its growth per doubling of the
group: a coordinate search minimising the sum of squared log errors. Print the fitted constants
(copy them into catalogs/speed_model.yaml) and, for the catalog's current constants, the table
docs/validation.md shows. The peer is the bare roofline the planner used before (bandwidth and
compute only, all-reduces costing their bytes): its error is printed beside.

Usage: python benchmarks/calibrate_speed.py [--fit]
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace

from planner.costs.calibration import relative_errors
from planner.costs.comm import SpeedModel, speed_model

KNOBS = {
    "hbm_efficiency": [x / 100 for x in range(50, 96)],
    "compute_efficiency": [x / 100 for x in range(20, 81, 2)],
    "step_overhead_us": list(range(0, 3001, 10)),
    "trt_overhead_us": list(range(0, 4001, 20)),
    "nvlink3_alpha_us": list(range(2, 121)),
    "nvlink4_alpha_us": list(range(2, 121)),
    "nvlink_step_us": list(range(0, 41)),
}


def _model(base: SpeedModel, v: dict) -> SpeedModel:
    links = dict(base.links)
    for kind in ("nvlink3", "nvlink4"):
        links[kind] = replace(links[kind], alpha_s=v[f"{kind}_alpha_us"] * 1e-6, step_s=v["nvlink_step_us"] * 1e-6)
    return replace(base, hbm_efficiency=v["hbm_efficiency"], compute_efficiency=v["compute_efficiency"],
                   step_overhead_s=v["step_overhead_us"] * 1e-6, links=links,
                   other_engines={"TensorRT-LLM": v["trt_overhead_us"] * 1e-6})


def _loss(model: SpeedModel) -> float:
    return sum(math.log1p(e) ** 2 for _, _, e in relative_errors(model))


def fit(base: SpeedModel) -> dict:
    v = {"hbm_efficiency": base.hbm_efficiency, "compute_efficiency": base.compute_efficiency,
         "step_overhead_us": round(base.step_overhead_s * 1e6), "nvlink3_alpha_us": round(base.links["nvlink3"].alpha_s * 1e6),
         "nvlink4_alpha_us": round(base.links["nvlink4"].alpha_s * 1e6), "nvlink_step_us": round(base.links["nvlink4"].step_s * 1e6),
         "trt_overhead_us": round(base.other_engines.get("TensorRT-LLM", 0) * 1e6)}
    best = _loss(_model(base, v))
    for _ in range(6):
        for knob, grid in KNOBS.items():
            for x in grid:
                trial = dict(v, **{knob: x})
                loss = _loss(_model(base, trial))
                if loss < best - 1e-12:
                    best, v = loss, trial
    return v


def bare_roofline(base: SpeedModel) -> SpeedModel:
    """The planner's earlier speed: 80% HBM, 50% compute, no overhead, all-reduces at their bytes only."""
    links = {k: replace(link, alpha_s=0.0, step_s=0.0) for k, link in base.links.items()}
    return replace(base, hbm_efficiency=0.8, compute_efficiency=0.5, step_overhead_s=0.0, links=links, other_engines={})


def table(model: SpeedModel) -> None:
    peer = {id(r): e for r, _, e in relative_errors(bare_roofline(model))}
    rows = relative_errors(model)
    print(f"{'engine':<13} {'model':<16} {'GPU':<10} {'tp':>2} {'batch':>5} {'metric':<22} {'published':>9} "
          f"{'predicted':>9} {'error':>7} {'roofline error':>14}")
    for run, p, e in rows:
        print(f"{run.engine:<13} {run.model:<16} {run.gpu:<10} {run.tp:>2} {run.batch:>5} {run.metric:<22} "
              f"{run.value:>9.1f} {p:>9.1f} {e:>+7.1%} {peer[id(run)]:>+14.1%}")
    mean = sum(abs(e) for *_, e in rows) / len(rows)
    worst = max(abs(e) for *_, e in rows)
    peer_mean = sum(abs(e) for e in peer.values()) / len(peer)
    print(f"\n{len(rows)} runs: mean |error| {mean:.1%}, worst {worst:.1%}; bare roofline mean |error| {peer_mean:.1%} "
          f"(ratio {peer_mean / mean:.1f}x)")


def main(argv: list[str]) -> None:
    base = speed_model()
    if "--fit" in argv:
        v = fit(base)
        print("fitted:", ", ".join(f"{k}={x}" for k, x in v.items()))
        table(_model(base, v))
        return
    table(base)


if __name__ == "__main__":
    main(sys.argv[1:])

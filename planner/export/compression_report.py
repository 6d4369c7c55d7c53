"""`planner estimate --mode compression`: the table and the JSON."""

from __future__ import annotations

import json

from planner.costs.compression import ALGORITHMS, CompressionCost
from planner.costs.profile import Profile
from planner.export.report import header_lines
from planner.solve.compression_plan import Recommendation, oneshot_args, samples_cached_on_gpu, smallest_gpu
from planner.units import GB, GiB


def _settings(c: CompressionCost) -> str:
    targets = "decoder layers" if c.granularity == "layer" else "attention and MLP separately"
    where = "GPU" if c.cache_on_gpu else "CPU"
    return f"subgraphs: {targets}; Hessians {'offloaded to CPU' if c.offload_hessians else 'on GPU'}; cache on {where}"


def compression_doc(model: str, profile: Profile, cost: CompressionCost, recs: list[Recommendation]) -> dict:
    from dataclasses import replace

    smallest = {alg: smallest_gpu(profile, replace(cost.setup, algorithm=alg)) for alg in ALGORITHMS}
    return {
        "mode": "compression", "model": profile.spec.name, "algorithm": cost.algorithm, "samples": cost.samples,
        "seq_len": cost.seq_len, "dtype": profile.dtype, "sequential_targets": cost.granularity,
        "offload_hessians": cost.offload_hessians, "cache_on_gpu": cost.cache_on_gpu,
        "units": [{"name": u.name, "weights_bytes": u.weights_bytes, "gradients_bytes": 0, "optimizer_bytes": 0,
                   "activation_bytes": u.activation_bytes, "hessian_bytes": u.hessian_bytes,
                   "quantize_bytes": u.quantize_bytes, "gpu_bytes": cost.gpu_bytes(u)} for u in cost.units],
        "total": {"weights_bytes": cost.model_bytes, "gradients_bytes": 0, "optimizer_bytes": 0,
                  "activation_bytes": cost.cache_bytes, "hessian_bytes": cost.hessian_bytes},
        "gpu_peak_bytes": cost.gpu_peak_bytes, "gpu_peak_unit": cost.peak_unit.name, "cpu_peak_bytes": cost.cpu_peak_bytes,
        "recommendations": [{"gpu": r.gpu.name, "fits": r.cost is not None, "usable_bytes": r.usable_bytes,
                             "gpu_peak_bytes": (r.cost or r.leanest).gpu_peak_bytes,
                             "settings": _settings(r.cost) if r.cost else None,
                             "oneshot": oneshot_args(model, profile, r.cost) if r.cost else None} for r in recs],
        "smallest_gpu": {alg: None if r is None else {"gpu": r.gpu.name, "settings": _settings(r.cost),
                                                      "gpu_peak_bytes": r.cost.gpu_peak_bytes} for alg, r in smallest.items()},
        "oneshot": oneshot_args(model, profile, cost),
    }


def compression_json(*args) -> str:
    return json.dumps(compression_doc(*args), indent=2) + "\n"


def compression_table(model: str, profile: Profile, cost: CompressionCost, recs: list[Recommendation]) -> str:
    doc = compression_doc(model, profile, cost, recs)
    peak = cost.peak_unit
    out = header_lines(profile)[:1] + [
        f"Compression: {cost.algorithm} with llm-compressor's sequential pipeline, {cost.samples} samples x {cost.seq_len} "
        f"tokens, {profile.dtype}; {_settings(cost)}", "",
        f"{'':<34}{'GiB':>10}{'GB':>10}",
        f"{'GPU peak':<34}{cost.gpu_peak_bytes / GiB:>10.2f}{cost.gpu_peak_bytes / GB:>10.2f}   at {peak.name}",
        f"{'  subgraph weights':<34}{peak.weights_bytes / GiB:>10.2f}{peak.weights_bytes / GB:>10.2f}",
        f"{'  Hessians (fp32, in x in each)':<34}{peak.hessian_bytes / GiB:>10.2f}{peak.hessian_bytes / GB:>10.2f}"
        + ("   (offloaded; one at a time on GPU)" if cost.offload_hessians else ""),
        f"{'  quantize / activations / AWQ':<34}{max(peak.quantize_bytes, peak.activation_bytes, peak.awq_cache_bytes) / GiB:>10.2f}",
        f"{'CPU peak (model + cache)':<34}{cost.cpu_peak_bytes / GiB:>10.2f}{cost.cpu_peak_bytes / GB:>10.2f}",
        "",
    ]
    for r, d in zip(recs, doc["recommendations"], strict=True):
        if r.cost:
            out.append(f"On {r.gpu.name} ({r.usable_bytes / GiB:.2f} GiB usable): fits with {d['settings']}; the cache of "
                       f"{samples_cached_on_gpu(r.cost, r.usable_bytes)} samples would fit on the GPU")
            out.append(f"  oneshot(**{json.dumps(d['oneshot'])})")
        else:
            short = (r.leanest.gpu_peak_bytes - r.usable_bytes) / GiB
            out.append(f"On {r.gpu.name}: does not fit even with the leanest settings ({short:.2f} GiB short)")
    out.append("Smallest GPU per algorithm: " + "; ".join(
        f"{alg} {v['gpu']} ({v['gpu_peak_bytes'] / GiB:.1f} GiB peak)" if v else f"{alg} none"
        for alg, v in doc["smallest_gpu"].items()))
    return "\n".join(out)

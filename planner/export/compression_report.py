"""`planner estimate --mode compression`: the table and the JSON."""

from __future__ import annotations

import json

from planner.answers.compress import CompressionAnswer
from planner.costs.compression import CompressionCost
from planner.export.report import header_lines
from planner.export.table import Column, Table, render
from planner.sizing.compression import oneshot_args, samples_cached_on_gpu
from planner.units import size_text


def settings_text(c: CompressionCost) -> str:
    """The settings a compression cost was computed with, in words."""
    targets = "decoder layers" if c.granularity == "layer" else "attention and MLP separately"
    where = "GPU" if c.cache_on_gpu else "CPU"
    return f"subgraphs: {targets}; Hessians {'offloaded to CPU' if c.offload_hessians else 'on GPU'}; cache on {where}"


def compression_doc(a: CompressionAnswer) -> dict:
    model, profile, cost = a.model, a.profile, a.cost
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
                             "settings": settings_text(r.cost) if r.cost else None,
                             "oneshot": oneshot_args(model, profile, r.cost) if r.cost else None} for r in a.recommendations],
        "smallest_gpu": {alg: None if r is None else {"gpu": r.gpu.name, "settings": settings_text(r.cost),
                                                      "gpu_peak_bytes": r.cost.gpu_peak_bytes} for alg, r in a.smallest},
        "oneshot": oneshot_args(model, profile, cost),
    }


def compression_json(a: CompressionAnswer) -> str:
    return json.dumps(compression_doc(a), indent=2) + "\n"


def _peak_table(cost: CompressionCost) -> Table:
    peak = cost.peak_unit
    t = Table([Column("part", ""), Column("bytes", "", "GiB"), Column("bytes", "", "GB"), Column("note", "")], main=True)
    t.add(part="GPU peak", bytes=cost.gpu_peak_bytes, note=f"at {peak.name}")
    t.add(part="  subgraph weights", bytes=peak.weights_bytes)
    t.add(part="  Hessians (fp32, in x in each)", bytes=peak.hessian_bytes,
          note="(offloaded; one at a time on GPU)" if cost.offload_hessians else "")
    t.add(part="  quantize / activations / AWQ", bytes=max(peak.quantize_bytes, peak.activation_bytes, peak.awq_cache_bytes))
    t.add(part="CPU peak (model + cache)", bytes=cost.cpu_peak_bytes)
    return t


def compression_blocks(a: CompressionAnswer) -> list:
    profile, cost = a.profile, a.cost
    doc = compression_doc(a)
    out: list = header_lines(profile)[:1] + [
        f"Compression: {cost.algorithm} with llm-compressor's sequential pipeline, {cost.samples} samples x {cost.seq_len} "
        f"tokens, {profile.dtype}; {settings_text(cost)}", "", _peak_table(cost), ""]
    for r, d in zip(a.recommendations, doc["recommendations"], strict=True):
        if r.cost:
            out.append(f"On {r.gpu.name} ({size_text(r.usable_bytes)} usable): fits with {d['settings']}; the cache of "
                       f"{samples_cached_on_gpu(r.cost, r.usable_bytes)} samples would fit on the GPU")
            out.append(f"  oneshot(**{json.dumps(d['oneshot'])})")
        else:
            out.append(f"On {r.gpu.name}: does not fit even with the leanest settings "
                       f"({size_text(r.leanest.gpu_peak_bytes - r.usable_bytes)} short)")
    out.append("Smallest GPU per algorithm: " + "; ".join(
        f"{alg} {v['gpu']} ({size_text(v['gpu_peak_bytes'])} peak)" if v else f"{alg} none"
        for alg, v in doc["smallest_gpu"].items()))
    return out


def compression_table(a: CompressionAnswer, fmt: str = "text") -> str:
    return render(compression_blocks(a), fmt)

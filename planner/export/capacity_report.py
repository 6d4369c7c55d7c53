"""`planner size --have 8xH100`: what the GPUs you have can serve, per precision."""

from __future__ import annotations

import json

from planner.catalog import GpuType, find_gpu
from planner.costs.profile import profile
from planner.errors import InputError
from planner.solve.capacity import Capacity, capacity
from planner.spec.types import ModelSpec
from planner.workload import Workload

PRECISIONS = [
    ("as given", {}),
    ("fp8 KV cache", {"kv_dtype": "fp8"}),
    ("fp8 weights + fp8 KV", {"quant": "fp8", "kv_dtype": "fp8"}),
    ("int4 (AWQ) weights", {"quant": "awq"}),
]


def have_gpus(text: str) -> tuple[GpuType, int]:
    from planner.hardware.inventory import split_count

    count, name = split_count(text)
    if not 1 <= count <= 1024:
        raise InputError(f"have: GPU count in {text!r} must be between 1 and 1024")
    return find_gpu(name), count


def precisions(spec: ModelSpec, w: Workload, gpu: GpuType, count: int, context: int, concurrency: int,
               gpus_per_node: int, utilization: float) -> list[Capacity]:
    rows = []
    for label, change in PRECISIONS:
        if "quant" in change and w.quant not in ("auto", None):
            continue
        prof = profile(spec, w.model_copy(update=change))
        rows.append(capacity(label, prof, gpu, count, context, concurrency, gpus_per_node, utilization))
    return rows


def _layout(entry) -> str:
    value, layout, replicas = entry
    return f"{replicas} x tp {layout.tp} x pp {layout.pp}"


def capacity_table(rows: list[Capacity], gpu: GpuType, count: int, context: int, concurrency: int) -> str:
    out = [f"{count} x {gpu.name} ({gpu.memory_bytes / 2**30:.2f} GiB each) serving {rows[0].profile.spec.name} with vLLM",
           f"{'precision':<24}{'weights GiB':>12}{f'longest context, {concurrency} seqs':>30}{'  layout':<24}"
           f"{f'most seqs at {context} tokens':>26}{'  layout':<24}"]
    for r in rows:
        longest = f"{r.longest[0]:,} tokens" if r.longest else "does not fit"
        most = f"{r.most[0]:,}" if r.most else "0"
        out.append(f"{r.label:<24}{r.profile.weights_bytes / 2**30:>12.2f}{longest:>30}  "
                   f"{_layout(r.longest) if r.longest else '-':<22}{most:>26}  {_layout(r.most) if r.most else '-':<22}")
    out.append("(longest context: KV tokens of a replica // its share of the sequences; the model's own position limit is not applied)")
    return "\n".join(out)


def capacity_json(rows: list[Capacity], gpu: GpuType, count: int, context: int, concurrency: int) -> str:
    def entry(e):
        if e is None:
            return None
        value, layout, replicas = e
        return {"value": value, "replicas": replicas, "tensor_parallel_size": layout.tp, "pipeline_parallel_size": layout.pp,
                "kv_cache_tokens_per_replica": layout.kv_tokens}

    return json.dumps({"gpu": gpu.name, "count": count, "context": context, "concurrency": concurrency, "precisions": [
        {"precision": r.label, "weights_bytes": r.profile.weights_bytes, "longest_context": entry(r.longest),
         "most_sequences": entry(r.most)} for r in rows]}, indent=2) + "\n"

"""`planner size MODEL --cluster cluster.yaml`: the best vLLM pipeline over machines that differ."""

from __future__ import annotations

import json

from planner.costs.profile import Profile
from planner.costs.vllm import DEFAULT_MAX_NUM_SEQS
from planner.export.vllm import partition_env, vllm_dtype
from planner.hardware.topology import Cluster
from planner.solve.pipeline import PipelinePlan


def launch(model: str, profile: Profile, plan: PipelinePlan, context: int, utilization: float) -> list[str]:
    env = "".join(f"{k}={v} " for k, v in partition_env(plan.partition).items())
    machines = list(dict.fromkeys(s.machine for s in plan.stages))
    seqs = min(plan.kv_tokens // context, DEFAULT_MAX_NUM_SEQS)
    cmd = (f"{env}vllm serve {profile.spec.repo_id or model} --tensor-parallel-size {plan.tp} --pipeline-parallel-size {len(plan.stages)} "
           f"--max-model-len {context} --gpu-memory-utilization {utilization:g} --max-num-seqs {max(seqs, 1)} "
           f"--dtype {vllm_dtype(profile.dtype, [s.gpu for s in plan.stages])}")
    if profile.kv_dtype == "fp8":
        cmd += " --kv-cache-dtype fp8"
    if len(machines) == 1:
        return [cmd]
    return [f"# machines in stage order: {', '.join(machines)}; on {machines[0]}: ray start --head --port=6379",
            f"# on {', '.join(machines[1:])}: ray start --address={machines[0]}:6379",
            f"{cmd} --distributed-executor-backend ray"]


def _hops(profile: Profile, cluster: Cluster, plan: PipelinePlan, context: int) -> list[dict]:
    """The pipeline's cross-machine hops, each priced: one decode step sends every running
    sequence's hidden state (hidden x the compute dtype) to the next stage."""
    from planner.units import DTYPE_BITS

    seqs = max(min(plan.kv_tokens // context, DEFAULT_MAX_NUM_SEQS), 1)
    step_bytes = seqs * profile.spec.hidden_size * DTYPE_BITS[profile.dtype] // 8
    return [{"from": a, "to": b, "gb_per_s": rate, "bytes_per_decode_step": step_bytes, "seconds_per_decode_step": round(t, 9)}
            for a, b, rate, t in cluster.hops([s.machine for s in plan.stages], step_bytes)]


def cluster_doc(model: str, profile: Profile, cluster: Cluster, plans: list[PipelinePlan], context: int, concurrency: int,
                utilization: float) -> dict:
    rows = []
    for p in plans:
        rows.append({
            "tensor_parallel_size": p.tp, "pipeline_parallel_size": len(p.stages), "layer_partition": list(p.partition),
            "stages": [{"machine": s.machine, "type": s.gpu.name, "gpus": list(range(s.first_gpu, s.first_gpu + p.tp)),
                        "layers": n, "weights_bytes_per_gpu": w}
                       for s, n, w in zip(p.stages, p.partition, p.weights_bytes, strict=True)],
            "kv_cache_tokens": p.kv_tokens, "max_concurrency": round(p.kv_tokens / context, 2),
            "longest_context": p.kv_tokens // concurrency, "launch": launch(model, profile, p, context, utilization),
            "hops": _hops(profile, cluster, p, context),
        })
    best = max(rows, key=lambda r: (r["kv_cache_tokens"], -r["tensor_parallel_size"] * r["pipeline_parallel_size"]), default=None)
    return {"model": profile.spec.name, "machines": [{"name": n.name, "type": n.gpu.name, "count": n.count,
                                                      "network_gb_per_s": n.network_gb_per_s} for n in cluster.nodes],
            "context": context, "concurrency": concurrency, "status": "feasible" if best else "infeasible",
            "best": best, "by_tensor_parallel_size": rows}


def cluster_json(*args) -> str:
    return json.dumps(cluster_doc(*args), indent=2) + "\n"


def cluster_table(model: str, profile: Profile, cluster: Cluster, plans: list[PipelinePlan], context: int, concurrency: int,
                  utilization: float) -> str:
    doc = cluster_doc(model, profile, cluster, plans, context, concurrency, utilization)
    out = ["Cluster: " + ", ".join(f"{m['name']} {m['count']} x {m['type']}" for m in doc["machines"]),
           f"{'tp':>4}{'stages':>8}  {'partition':<28}{'KV tokens':>12}{f'max seqs at {context}':>18}"
           f"{f'longest ctx, {concurrency} seqs':>24}"]
    for r in doc["by_tensor_parallel_size"]:
        parts = ",".join(map(str, r["layer_partition"]))
        out.append(f"{r['tensor_parallel_size']:>4}{r['pipeline_parallel_size']:>8}  {parts[:27]:<28}{r['kv_cache_tokens']:>12,}"
                   f"{r['max_concurrency']:>18.2f}{r['longest_context']:>24,}")
    if doc["best"] is None:
        out.append("INFEASIBLE: no tensor-parallel size gives a pipeline that holds the model on these machines")
        return "\n".join(out)
    b = doc["best"]
    out.append(f"Best: tp {b['tensor_parallel_size']} x pp {b['pipeline_parallel_size']}, stages "
               + "; ".join(f"{s['machine']} {s['type']} x{len(s['gpus'])}: {s['layers']} layers" for s in b["stages"]))
    for h in b["hops"]:
        out.append(f"  hop {h['from']} -> {h['to']}: {h['gb_per_s']:g} GB/s, {h['bytes_per_decode_step']:,} bytes per decode step, "
                   f"{h['seconds_per_decode_step'] * 1e6:.1f} us")
    out += [f"  {line}" for line in b["launch"]]
    return "\n".join(out)

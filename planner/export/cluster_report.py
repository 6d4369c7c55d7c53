"""`planner size MODEL --cluster cluster.yaml`: the best vLLM pipeline over machines that differ."""

from __future__ import annotations

import json
import shlex

from planner.answers.size import ClusterAnswer
from planner.costs.profile import Profile
from planner.costs.vllm import DEFAULT_MAX_NUM_SEQS
from planner.export.table import Column, Table, render
from planner.export.vllm import command_lines, needs_checkpoint, partition_env, serve_words
from planner.hardware.topology import Cluster
from planner.sizing.pipeline import PipelinePlan


def launch(model: str, profile: Profile, plan: PipelinePlan, context: int, utilization: float) -> list[str]:
    env = "".join(f"{k}={v} " for k, v in partition_env(plan.partition).items())
    machines = list(dict.fromkeys(s.machine for s in plan.stages))
    seqs = min(plan.kv_tokens // context, DEFAULT_MAX_NUM_SEQS)
    words = serve_words(model, profile, plan.tp, len(plan.stages), context, utilization, max(seqs, 1),
                        [s.gpu for s in plan.stages])
    if needs_checkpoint(profile):
        return command_lines(words, profile)
    cmd = env + shlex.join(words)
    if len(machines) == 1:
        return [cmd]
    return [f"# machines in stage order: {', '.join(machines)}; on {machines[0]}: ray start --head --port=6379",
            f"# on {', '.join(machines[1:])}: ray start --address={machines[0]}:6379",
            f"{cmd} --distributed-executor-backend ray"]


def _hops(profile: Profile, cluster: Cluster, plan: PipelinePlan, context: int) -> list[dict]:
    """The pipeline's hops out of an island (across machines, or between islands of one), each priced: one decode step sends every running
    sequence's hidden state (hidden x the compute dtype) to the next stage."""
    from planner.units import DTYPE_BITS

    seqs = max(min(plan.kv_tokens // context, DEFAULT_MAX_NUM_SEQS), 1)
    step_bytes = seqs * profile.spec.hidden_size * DTYPE_BITS[profile.dtype] // 8
    return [{"from": a, "to": b, "link": kind, "gb_per_s": rate, "bytes_per_decode_step": step_bytes, "seconds_per_decode_step": round(t, 9)}
            for a, b, kind, rate, t in cluster.hops([(s.machine, s.first_gpu) for s in plan.stages], step_bytes)]


def _plan_doc(a: ClusterAnswer, p: PipelinePlan) -> dict:
    return {
        "tensor_parallel_size": p.tp, "pipeline_parallel_size": len(p.stages), "layer_partition": list(p.partition),
        "stages": [{"machine": s.machine, "type": s.gpu.name, "gpus": list(range(s.first_gpu, s.first_gpu + p.tp)),
                    "layers": n, "weights_bytes_per_gpu": w}
                   for s, n, w in zip(p.stages, p.partition, p.weights_bytes, strict=True)],
        "kv_cache_tokens": p.kv_tokens, "max_concurrency": round(p.kv_tokens / a.context, 2),
        "longest_context": p.kv_tokens // a.concurrency, "launch": launch(a.model, a.profile, p, a.context, a.utilization),
        "hops": _hops(a.profile, a.cluster, p, a.context),
    }


def cluster_doc(a: ClusterAnswer) -> dict:
    best = a.best
    return {"model": a.profile.spec.name, "machines": [{"name": n.name, "type": n.gpu.name, "count": n.count,
                                                        "network_gb_per_s": n.network_gb_per_s} for n in a.cluster.nodes],
            "context": a.context, "concurrency": a.concurrency, "status": a.status, "fits": a.fits, "reason": a.reason,
            "best": _plan_doc(a, best) if best else None, "by_tensor_parallel_size": [_plan_doc(a, p) for p in a.plans]}


def cluster_json(a: ClusterAnswer) -> str:
    return json.dumps(cluster_doc(a), indent=2) + "\n"


def cluster_blocks(a: ClusterAnswer) -> list:
    doc = cluster_doc(a)
    t = Table([Column("tensor_parallel_size", "tp", "count"), Column("pipeline_parallel_size", "stages", "count"),
               Column("layer_partition", "partition"), Column("kv_cache_tokens", "KV tokens", "count"),
               Column("max_concurrency", f"max seqs at {a.context}", "ratio"),
               Column("longest_context", f"longest ctx, {a.concurrency} seqs", "count")], main=True)
    for r in doc["by_tensor_parallel_size"]:
        t.add(**{k: r[k] for k in ("tensor_parallel_size", "pipeline_parallel_size", "kv_cache_tokens", "max_concurrency",
                                   "longest_context")}, layer_partition=",".join(map(str, r["layer_partition"])))
    out: list = ["Cluster: " + ", ".join(f"{m['name']} {m['count']} x {m['type']}" for m in doc["machines"]), t]
    if doc["best"] is None:
        out.append("INFEASIBLE: no tensor-parallel size gives a pipeline that holds the model on these machines")
        return out
    if not a.fits:
        out.append(f"DOES NOT FIT: {a.reason}")
    b = doc["best"]
    out.append(f"Best: tp {b['tensor_parallel_size']} x pp {b['pipeline_parallel_size']}, stages "
               + "; ".join(f"{s['machine']} {s['type']} x{len(s['gpus'])}: {s['layers']} layers" for s in b["stages"]))
    for h in b["hops"]:
        out.append(f"  hop {h['from']} -> {h['to']}: {h['gb_per_s']:g} GB/s, {h['bytes_per_decode_step']:,} bytes per decode step, "
                   f"{h['seconds_per_decode_step'] * 1e6:.1f} us")
    out += [f"  {line}" for line in b["launch"]]
    return out


def cluster_table(a: ClusterAnswer, fmt: str = "text") -> str:
    return render(cluster_blocks(a), fmt)

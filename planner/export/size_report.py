"""A sizing answer as a table and as JSON (GPUs, layout, per-device bytes, vLLM commands)."""

from __future__ import annotations

import json

from planner.costs.profile import Profile
from planner.export.report import header_lines
from planner.export.vllm import launch_steps, layer_partition_env, serve_args
from planner.hardware.prices import price_of, total_price
from planner.solve.sizing import Candidate, Sizing
from planner.units import GiB

_UNIT = {"gpus": "GPUs", "price": "USD to buy", "hourly": "USD per hour"}


def _money(value: float, objective: str) -> str:
    if objective == "gpus":
        return f"{value:g} GPUs"
    return f"{value:,.0f} USD" if objective == "price" else f"{value:,.2f} USD/hour"


def _layout(c: Candidate) -> str:
    return f"tp {c.layout.tp} x pp {c.layout.pp} = {c.gpus} x {c.gpu.name}"


def devices(c: Candidate, replica: int, first_gpu: int, gpus_per_node: int) -> list[dict]:
    """Per GPU of one replica, in the shape `planner plan` uses."""
    out = []
    for s, st in enumerate(c.layout.stages):
        kv = st.kv_blocks * 16 * st.kv_bytes_per_token
        for rank in range(c.layout.tp):
            index = first_gpu + s * c.layout.tp + rank
            node = index // gpus_per_node
            out.append({"name": f"node{node}:cuda:{index % gpus_per_node}", "node": node, "replica": replica, "stage": s,
                        "tp_rank": rank, "type": c.gpu.name, "capacity_bytes": c.gpu.memory_bytes,
                        "weights_bytes": st.weights_bytes, "kv_bytes": kv, "activation_bytes": st.activation_bytes,
                        "reserve_bytes": c.gpu.memory_bytes - st.budget_bytes + st.non_torch_bytes,
                        "free_bytes": st.kv_bytes - kv, "layers": st.layers})
    return out


def hf_device_map(profile: Profile, c: Candidate, s: Sizing, gpus_per_node: int) -> dict:
    """The same GPUs used by transformers + accelerate instead of vLLM (one node only): the
    planner's device_map for the replica's share of the sequences at full context."""
    if c.gpus > gpus_per_node:
        return {"status": "not applicable: a device_map runs on one machine"}
    from planner.costs.profile import profile as make_profile
    from planner.hardware.inventory import build_inventory
    from planner.placement import make_plan

    seqs = min(c.seqs, s.concurrency)
    w = profile.workload.model_copy(update={"engine": "hf", "batch": seqs, "prompt_tokens": s.context, "new_tokens": 0,
                                            "logits": "last"})
    plan = make_plan(make_profile(profile.spec, w), build_inventory([f"{c.gpus}x{c.gpu.name}"]), "balance",
                     diagnose=False, time_limit_s=0.5)
    return {"status": plan.status, "sequences": seqs, "device_map": plan.device_map or None}


def _candidate_doc(model: str, profile: Profile, c: Candidate, n: int, s: Sizing, gpus_per_node: int,
                   with_hf: bool = False) -> dict:
    doc = {
        "type": c.gpu.name, "replicas": n, "gpus_per_replica": c.gpus,
        "tensor_parallel_size": c.layout.tp, "pipeline_parallel_size": c.layout.pp,
        "layer_partition": list(c.layout.partition), "kv_cache_tokens": c.layout.kv_tokens,
        "max_concurrency": round(c.layout.concurrency(s.context), 2), "sequences_per_replica": c.seqs,
        "price_usd": price_of(c.gpu, c.gpus * n)[0],
        "price_usd_per_hour": price_of(c.gpu, c.gpus * n)[1],
        "decode_tokens_per_s": round(c.speed.decode_tokens_per_s * n, 1),
        "decode_step_ms": round(c.speed.decode_step_s * 1e3, 3),
        "prefill_tokens_per_s": round(c.speed.prefill_tokens_per_s, 1),
        "vllm": {"command": " ".join(serve_args(model, profile, c, s.context)), "env": layer_partition_env(c),
                 "launch": launch_steps(model, profile, c, s.context, gpus_per_node)},
    }
    if with_hf:
        doc["accelerate"] = hf_device_map(profile, c, s, gpus_per_node)
    return doc


def size_json(model: str, profile: Profile, s: Sizing, gpus_per_node: int) -> str:
    doc: dict = {"status": s.status, "objective": s.objective, "model": profile.spec.name, "context": s.context,
                 "concurrency": s.concurrency, "dtype": profile.dtype, "kv_dtype": profile.kv_dtype,
                 "quant": profile.quant.name if profile.quant else None}
    if s.choice:
        devs, first, replica = [], 0, 0
        for c, n in s.choice:
            for _ in range(n):
                devs += devices(c, replica, first, gpus_per_node)
                first, replica = first + c.gpus, replica + 1
        by_node: dict[tuple[str, int], int] = {}
        for d in devs:
            by_node[(d["type"], d["node"])] = by_node.get((d["type"], d["node"]), 0) + 1
        gpus = [{"type": t, "count": n, "node": node} for (t, node), n in by_node.items()]
        c0 = s.choice[0][0]
        doc.update({
            "gpus": gpus,
            "price_usd": total_price((c.gpu, c.gpus * n) for c, n in s.choice)[0] if s.objective != "hourly" else None,
            "price_usd_per_hour": total_price((c.gpu, c.gpus * n) for c, n in s.choice)[1] if s.objective != "price" else None,
            "tensor_parallel_size": c0.layout.tp, "pipeline_parallel_size": c0.layout.pp,
            "layer_partition": list(c0.layout.partition),
            "replicas": [_candidate_doc(model, profile, c, n, s, gpus_per_node, with_hf=True) for c, n in s.choice],
            "devices": devs,
        })
    doc["alternatives"] = [_candidate_doc(model, profile, c, n, s, gpus_per_node) for c, n in s.alternatives]
    doc["layouts_considered"] = s.considered
    doc["solve_seconds"] = round(s.solve_seconds, 6)
    return json.dumps(doc, indent=2) + "\n"


def size_table(model: str, profile: Profile, s: Sizing, gpus_per_node: int) -> str:
    out = header_lines(profile)
    out.append(f"Serving: {s.concurrency} sequences of {s.context} tokens at once with vLLM; objective: fewest "
               f"{_UNIT[s.objective]}; {s.considered} layouts considered")
    if not s.choice:
        out.append("INFEASIBLE: no GPU type in the list holds one full-context sequence within the GPU budget; "
                   "try a shorter context, fp8/int4 weights (--quant), an fp8 KV cache (--kv-dtype fp8) or more GPUs (--max-gpus)")
        return "\n".join(out)
    state = "optimal (proven)" if s.status == "optimal" else "feasible, not proven optimal"
    out.append(f"Answer: {_money(s.objective_value, s.objective)}, {state}")
    for c, n in s.choice:
        st = c.layout.stages
        out.append(f"  {n} x [{_layout(c)}]: KV cache {c.layout.kv_tokens:,} tokens per replica "
                   f"(max concurrency {c.layout.concurrency(s.context):.2f} at {s.context} tokens), "
                   f"per GPU weights {max(x.weights_bytes for x in st) / GiB:.2f} GiB, "
                   f"~{c.speed.decode_tokens_per_s * n:,.0f} decode tokens/s (roofline)")
        for line in launch_steps(model, profile, c, s.context, gpus_per_node):
            out.append(f"    {line}")
    out += ["", f"Best per GPU type ({_UNIT[s.objective]}):",
            f"  {'type':<14}{'layout':<34}{'cost':>16}{'KV tokens':>13}{'tokens/s':>10}{'USD/1M tok':>11}"]
    for c, n in s.alternatives:
        cost = _money(c.cost(s.objective) * n, s.objective)
        hourly = price_of(c.gpu, c.gpus)[1]
        per_m = c.speed.usd_per_million_tokens(hourly) if hourly else float("nan")
        out.append(f"  {c.gpu.name:<14}{f'{n} x tp {c.layout.tp} x pp {c.layout.pp} ({n * c.gpus} GPUs)':<34}{cost:>16}"
                   f"{c.layout.kv_tokens:>13,}{c.speed.decode_tokens_per_s * n:>10,.0f}{per_m:>11.2f}")
    out.append("(KV tokens as vLLM reports them per replica; tokens/s is a roofline bound, docs/sizing.md)")
    return "\n".join(out)

"""A sizing answer as a table and as JSON (GPUs, layout, per-device bytes, vLLM commands)."""

from __future__ import annotations

import json

from planner.commands.size import ServingAnswer
from planner.costs.profile import Profile
from planner.export.report import header_lines
from planner.export.table import Column, Table, gib, render
from planner.export.vllm import launch_steps, layer_partition_env, serve_args
from planner.hardware.prices import price_of, total_price
from planner.solve.sizing import Candidate, Sizing

_UNIT = {"gpus": "GPUs", "price": "USD to buy", "hourly": "USD per hour"}
_COST_UNIT = {"gpus": "number", "price": "usd", "hourly": "usd_per_hour"}
_COST_KEY = {"gpus": "gpus", "price": "price_usd", "hourly": "price_usd_per_hour"}


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


def _candidate_doc(model: str, profile: Profile, c: Candidate, n: int, s: Sizing, gpus_per_node: int,
                   accelerate: dict | None = None) -> dict:
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
    if accelerate is not None:
        doc["accelerate"] = accelerate
    return doc


def size_json(a: ServingAnswer) -> str:
    model, profile, s, gpus_per_node = a.model, a.profile, a.sizing, a.gpus_per_node
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
            "replicas": [_candidate_doc(model, profile, c, n, s, gpus_per_node, hf)
                         for (c, n), hf in zip(s.choice, a.accelerate or [None] * len(s.choice), strict=True)],
            "devices": devs,
        })
    doc["alternatives"] = [_candidate_doc(model, profile, c, n, s, gpus_per_node) for c, n in s.alternatives]
    doc["layouts_considered"] = s.considered
    doc["solve_seconds"] = round(s.solve_seconds, 6)
    return json.dumps(doc, indent=2) + "\n"


def _alternatives(s: Sizing) -> Table:
    key = _COST_KEY[s.objective]
    t = Table([Column("type", "type"), Column("layout", "layout"), Column(key, _UNIT[s.objective], _COST_UNIT[s.objective]),
               Column("gpu_weights_bytes", "weights/GPU", "GiB"), Column("kv_cache_tokens", "KV tokens", "count"), Column("decode_tokens_per_s", "tokens/s", "tokens_per_s"),
               Column("usd_per_million_tokens", "USD/1M tok", "usd_per_hour")], indent=2, main=True,
              title=f"Best per GPU type ({_UNIT[s.objective]}):",
              notes=["(KV tokens as vLLM reports them per replica; tokens/s is a roofline bound, docs/sizing.md)"])
    for c, n in s.alternatives:
        hourly = price_of(c.gpu, c.gpus)[1]
        t.add(type=c.gpu.name, layout=f"{n} x tp {c.layout.tp} x pp {c.layout.pp} ({n * c.gpus} GPUs)",
              **{key: c.cost(s.objective) * n}, gpu_weights_bytes=max(x.weights_bytes for x in c.layout.stages),
              kv_cache_tokens=c.layout.kv_tokens, decode_tokens_per_s=c.speed.decode_tokens_per_s * n,
              usd_per_million_tokens=c.speed.usd_per_million_tokens(hourly) if hourly else None)
    return t


def size_blocks(a: ServingAnswer) -> list:
    model, profile, s, gpus_per_node = a.model, a.profile, a.sizing, a.gpus_per_node
    out: list = header_lines(profile)
    out.append(f"Serving: {s.concurrency} sequences of {s.context} tokens at once with vLLM; objective: fewest "
               f"{_UNIT[s.objective]}; {s.considered} layouts considered")
    if not s.choice:
        out.append("INFEASIBLE: no GPU type in the list holds one full-context sequence within the GPU budget; "
                   "try a shorter context, fp8/int4 weights (--quant), an fp8 KV cache (--kv-dtype fp8) or more GPUs (--max-gpus)")
        return out
    state = "optimal (proven)" if s.status == "optimal" else "feasible, not proven optimal"
    out.append(f"Answer: {_money(s.objective_value, s.objective)}, {state}")
    for c, n in s.choice:
        st = c.layout.stages
        out.append(f"  {n} x [{_layout(c)}]: KV cache {c.layout.kv_tokens:,} tokens per replica "
                   f"(max concurrency {c.layout.concurrency(s.context):.2f} at {s.context} tokens), "
                   f"per GPU weights {gib(max(x.weights_bytes for x in st))}, "
                   f"~{c.speed.decode_tokens_per_s * n:,.0f} decode tokens/s (roofline)")
        out += [f"    {line}" for line in launch_steps(model, profile, c, s.context, gpus_per_node)]
    return [*out, "", _alternatives(s)]


def size_table(a: ServingAnswer, fmt: str = "text") -> str:
    return render(size_blocks(a), fmt)

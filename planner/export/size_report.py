"""A sizing answer as a bill of materials, tables and JSON (hosts, GPUs, layout, vLLM commands). Formats only."""

from __future__ import annotations

import json

from planner.answers.bill import Bill
from planner.answers.size import ServingAnswer
from planner.costs.profile import Profile
from planner.export.report import header_lines
from planner.export.table import Column, Table, render
from planner.export.vllm import launch_steps, layer_partition_env, needs_checkpoint, serve_command
from planner.hardware.prices import USD_PER_HOUR_DIGITS, hourly
from planner.sizing.candidates import Candidate
from planner.sizing.fleet import Sizing
from planner.units import size_text

_UNIT = {"gpus": "GPUs", "price": "USD to buy", "hourly": "USD per hour", "tco": "USD to buy and power"}
_COST_UNIT = {"gpus": "number", "price": "usd", "hourly": "usd_per_hour", "tco": "usd"}
_COST_KEY = {"gpus": "gpus", "price": "price_usd", "hourly": "price_usd_per_hour", "tco": "tco_usd"}


def _money(value: float, objective: str) -> str:
    if objective == "gpus":
        return f"{value:g} GPUs"
    return f"{value:,.2f} USD/hour" if objective == "hourly" else f"{value:,.0f} USD"


def _layout(c: Candidate) -> str:
    where = f"{c.hosts} x {c.offer.name}" if c.hosts > 1 else c.offer.name
    reps = f"{c.replicas} replicas of " if c.replicas > 1 else ""
    return f"{where}: {reps}tp {c.layout.tp} x pp {c.layout.pp} on {c.gpus} x {c.gpu.name}"


def devices(c: Candidate, replica: int, first_host: int, offset: int = 0) -> list[dict]:
    """Per GPU of one replica, in the shape `planner plan` uses: hosts numbered across the answer,
    GPUs from ``offset`` in its first host (a host running several replicas)."""
    out = []
    per_host = min(c.layout.gpus, (c.offer.slots // c.layout.tp) * c.layout.tp)
    for s, st in enumerate(c.layout.stages):
        kv = st.kv_blocks * 16 * st.kv_bytes_per_token
        for rank in range(c.layout.tp):
            index = s * c.layout.tp + rank
            node, local = first_host + index // per_host, offset + index % per_host
            out.append({"name": f"node{node}:cuda:{local}", "node": node, "replica": replica, "stage": s,
                        "tp_rank": rank, "type": c.gpu.name, "capacity_bytes": c.gpu.memory_bytes,
                        "weights_bytes": st.weights_bytes, "kv_bytes": kv, "activation_bytes": st.activation_bytes,
                        "reserve_bytes": c.layout.reserve_bytes(st),
                        "free_bytes": st.kv_bytes - kv, "layers": st.layers})
    return out


def _candidate_doc(model: str, profile: Profile, c: Candidate, n: int, s: Sizing, accelerate: dict | None = None) -> dict:
    doc = {
        "type": c.gpu.name, "offer": c.offer.name, "offer_kind": "owned" if c.owned else c.offer.kind, "units": n,
        "replicas_per_unit": c.replicas, "hosts_per_unit": c.hosts, "gpus_per_unit": c.gpus, "replicas": n * c.replicas,
        "gpus_per_replica": c.layout.gpus, "tensor_parallel_size": c.layout.tp, "pipeline_parallel_size": c.layout.pp,
        "layer_partition": list(c.layout.partition), "kv_cache_tokens": c.layout.kv_tokens,
        "max_concurrency": round(c.layout.concurrency(s.context), 2), "sequences_per_replica": c.seqs,
        "price_usd": None if c.purchase_usd is None else c.purchase_usd * n,
        "price_usd_per_hour": hourly(c.usd_per_hour, n),
        "power_w": c.power_w * n,
        "decode_tokens_per_s": round(c.tokens_per_s * n, 1),
        "decode_step_ms": round(c.speed.decode_step_s * 1e3, 3),
        "roofline_tokens_per_s": round(c.speed.bound_tokens_per_s * c.replicas * n, 1),
        "speed": c.speed.label,
        "prefill_tokens_per_s": round(c.speed.prefill_tokens_per_s, 1),
        "vllm": {"command": serve_command(model, profile, c, s.context), "env": layer_partition_env(c),
                 "launch": launch_steps(model, profile, c, s.context), "needs_checkpoint": needs_checkpoint(profile)},
    }
    if accelerate is not None:
        doc["accelerate"] = accelerate
    return doc


def _bill_doc(b: Bill) -> dict:
    return {
        "lines": [{"item": x.item, "kind": x.kind, "quantity": x.quantity, "unit_usd": x.unit_usd, "total_usd": x.total_usd,
                   "unit_usd_per_hour": x.unit_usd_per_hour, "total_usd_per_hour": x.total_usd_per_hour,
                   "power_w": x.power_w, "rack_units": x.rack_units, "detail": x.detail} for x in b.lines],
        "purchase_usd": b.purchase_usd, "usd_per_hour": b.usd_per_hour, "power_w": b.power_w, "rack_units": b.rack_units,
        "hosts": b.hosts, "gpus": b.gpus,
        "energy": {"usd_per_kwh": b.energy.usd_per_kwh, "years": b.energy.years, "pue": b.energy.pue,
                   "paid_power_w": b.paid_power_w, "usd_per_hour": round(b.energy_usd_per_hour, USD_PER_HOUR_DIGITS),
                   "usd_over_horizon": round(b.energy.usd(b.paid_power_w), 2)},
        "tco_usd": round(b.tco_usd, 2),
        "rental": None if b.rental is None else {"instances": b.rental[0], "usd_per_hour": b.rental[1],
                                                 "break_even_months": _round(b.break_even_months)},
        "speed": {"decode_tokens_per_s": round(b.tokens_per_s, 1), "time_between_tokens_ms": round(b.step_s * 1e3, 3),
                  "label": b.speed_label},
    }


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def size_json(a: ServingAnswer, timings: bool = False) -> str:
    model, profile, s = a.model, a.profile, a.sizing
    doc: dict = {"status": s.status, "objective": s.objective, "model": profile.spec.name, "context": s.context,
                 "concurrency": s.concurrency, "dtype": profile.dtype, "kv_dtype": profile.kv_dtype,
                 "quant": profile.quant.name if profile.quant else None,
                 "needs_checkpoint": needs_checkpoint(profile), "excluded_gpu_types": list(a.excluded)}
    if s.choice:
        devs, host, replica = [], 0, 0
        for c, n in s.choice:
            for _ in range(n):
                for r in range(c.replicas):
                    devs += devices(c, replica, host, r * c.layout.gpus)
                    replica += 1
                host += c.hosts
        by_node: dict[tuple[str, int], int] = {}
        for d in devs:
            by_node[(d["type"], d["node"])] = by_node.get((d["type"], d["node"]), 0) + 1
        c0, b = s.choice[0][0], a.bill
        doc.update({
            "bill_of_materials": _bill_doc(b),
            "gpus": [{"type": t, "count": n, "node": node} for (t, node), n in by_node.items()],
            "price_usd": b.purchase_usd if s.objective in ("price", "tco", "gpus") else None,
            "price_usd_per_hour": b.usd_per_hour if s.objective == "hourly" else None,
            "tensor_parallel_size": c0.layout.tp, "pipeline_parallel_size": c0.layout.pp,
            "layer_partition": list(c0.layout.partition),
            "replicas": [_candidate_doc(model, profile, c, n, s, hf)
                         for (c, n), hf in zip(s.choice, a.accelerate or [None] * len(s.choice), strict=True)],
            "devices": devs,
        })
    doc["alternatives"] = [_candidate_doc(model, profile, c, n, s) for c, n in s.alternatives]
    doc["layouts_considered"] = s.considered
    if timings:  # wall clock: only when asked, so the same input gives the same bytes
        doc["solve_seconds"] = round(s.solve_seconds, 6)
    return json.dumps(doc, indent=2) + "\n"


def bill_table(b: Bill, objective: str) -> Table:
    rent = objective == "hourly"
    money = [Column("unit_usd_per_hour", "USD/h each", "usd_per_hour"), Column("total_usd_per_hour", "USD/h", "usd_per_hour")] \
        if rent else [Column("unit_usd", "USD each", "usd"), Column("total_usd", "USD", "usd")]
    t = Table([Column("item", "item"), Column("quantity", "qty", "count"), *money, Column("power_w", "power W", "watts"),
               Column("rack_units", "U", "count"), Column("detail", "detail")], indent=2, main=True,
              title="Bill of materials:")
    for x in b.lines:
        t.add(item=x.item, quantity=x.quantity, unit_usd=x.unit_usd, total_usd=x.total_usd,
              unit_usd_per_hour=x.unit_usd_per_hour, total_usd_per_hour=x.total_usd_per_hour, power_w=x.power_w,
              rack_units=x.rack_units or None, detail=x.detail)
    return t


def bill_lines(b: Bill, objective: str) -> list[str]:
    e = b.energy
    out = []
    if objective != "hourly":
        out.append(f"Total: {b.purchase_usd:,.0f} USD for {b.hosts} host(s) and {b.gpus} GPU(s), "
                   f"{b.power_w / 1000:,.2f} kW at load, {b.rack_units} rack units")
        out.append(f"Power: {b.energy_usd_per_hour:,.2f} USD/hour at {e.usd_per_kwh:g} USD/kWh (PUE {e.pue:g}); "
                   f"total cost over {e.years:g} years: {b.tco_usd:,.0f} USD")
        if b.rental is not None:
            months = b.break_even_months
            when = f"buying breaks even after {months:,.1f} months" if months is not None else \
                "renting costs no more per hour than powering the purchase: buying never breaks even"
            out.append(f"Renting instead: {b.rental[0]} at {b.rental[1]:,.2f} USD/hour; {when}")
    else:
        out.append(f"Total: {b.usd_per_hour:,.2f} USD/hour for {b.hosts} instance(s) with {b.gpus} GPU(s) "
                   f"({b.usd_per_hour * 730:,.0f} USD per month of 730 hours)")
    out.append(f"Speed: ~{b.tokens_per_s:,.0f} decode tokens/s serving the concurrency, {b.step_s * 1e3:,.1f} ms between "
               f"two tokens of a sequence ({b.speed_label}; docs/validation.md, 'Serving speed')")
    return out


def _alternatives(s: Sizing) -> Table:
    key = _COST_KEY[s.objective]
    t = Table([Column("type", "type"), Column("layout", "layout"), Column(key, _UNIT[s.objective], _COST_UNIT[s.objective]),
               Column("gpu_weights_bytes", "weights/GPU", "bytes"), Column("kv_cache_tokens", "KV tokens", "count"),
               Column("decode_tokens_per_s", "tokens/s", "tokens_per_s"), Column("speed", "speed"),
               Column("usd_per_million_tokens", "USD/1M tok", "usd_per_hour")], indent=2,
              title=f"Best per GPU type ({_UNIT[s.objective]}):",
              notes=["(KV tokens as vLLM reports them per replica; tokens/s at full load, docs/sizing.md)"])
    for c, n in s.alternatives:
        hourly = c.usd_per_hour
        t.add(type=c.gpu.name, layout=f"{n} x [{_layout(c)}]", **{key: c.cost(s.objective, s.energy) * n},
              gpu_weights_bytes=max(x.weights_bytes for x in c.layout.stages), kv_cache_tokens=c.layout.kv_tokens,
              decode_tokens_per_s=c.tokens_per_s * n, speed=c.speed.label,
              usd_per_million_tokens=c.speed.usd_per_million_tokens(hourly / c.replicas) if hourly else None)
    return t


def size_blocks(a: ServingAnswer) -> list:
    model, profile, s = a.model, a.profile, a.sizing
    out: list = header_lines(profile)
    out.append(f"Serving: {s.concurrency} sequences of {s.context} tokens at once with vLLM; objective: fewest "
               f"{_UNIT[s.objective]}; {s.considered} layouts on hosts considered")
    out += [f"Left out: {why}" for why in a.excluded]  # the checkpoint it needs is in header_lines
    if not s.choice:
        if a.fits is None:
            out.append(f"UNKNOWN: {a.reason}")
            return out
        out.append(f"INFEASIBLE: {a.reason}; try a shorter context, fp8/int4 weights (--quant), an fp8 KV cache "
                   "(--kv-dtype fp8), more GPUs (--max-gpus) or looser --max-hosts/--max-power/--max-rack-units")
        return out
    state = "optimal (proven)" if s.status == "optimal" else "feasible, not proven optimal"
    out.append(f"Answer: {_money(s.objective_value, s.objective)}, {state}")
    out += ["", bill_table(a.bill, s.objective), *bill_lines(a.bill, s.objective), ""]
    for c, n in s.choice:
        st = c.layout.stages
        out.append(f"  {n} x [{_layout(c)}]: KV cache {c.layout.kv_tokens:,} tokens per replica "
                   f"(max concurrency {c.layout.concurrency(s.context):.2f} at {s.context} tokens), "
                   f"per GPU weights {size_text(max(x.weights_bytes for x in st))}")
        out += [f"    {line}" for line in launch_steps(model, profile, c, s.context)]
    return [*out, "", _alternatives(s)]


def size_table(a: ServingAnswer, fmt: str = "text") -> str:
    return render(size_blocks(a), fmt)

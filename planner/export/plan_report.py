"""A Plan as a table for people and as JSON for programs. Formats only; never recomputes."""

from __future__ import annotations

import json

from planner.export.report import header_lines, load_document, unit_ranges
from planner.export.table import Column, Table, gib_gb, render
from planner.placement.plan import Plan
from planner.units import TORCH_DTYPE_NAMES, size_text

_OBJECTIVE_WORDS = {"gpus": "fewest GPUs", "cost": "lowest price", "balance": "even load"}
_PRICE_WORDS = {"purchase": "lowest purchase price", "hourly": "lowest hourly price", "auto": "lowest price"}


def _status_line(plan: Plan) -> str:
    obj = _PRICE_WORDS[plan.problem.price_basis] if plan.problem.objective == "cost" else _OBJECTIVE_WORDS[plan.problem.objective]
    mode = "weights only, as accelerate plans" if plan.problem.weights_only else "weights + KV cache + activations + reserve"
    if plan.status == "optimal":
        state = "optimal (proven)"
    elif plan.status == "feasible":
        state = f"feasible, not proven optimal (gap {plan.gap:.1%} on {next(iter(plan.objectives), '')})"
    elif plan.status == "infeasible":
        state = "INFEASIBLE: no placement fits"
    else:
        state = "no plan found within the time limit (none ruled out); raise --time-limit"
    return f"Plan: {state}; objective: least offload, then {obj}; counting {mode}"


def device_table(plan: Plan) -> Table:
    t = Table([Column("device", "device"), Column("type", "type"), Column("capacity_bytes", "capacity", "bytes"),
               Column("weights_bytes", "weights", "bytes"), Column("kv_bytes", "KV", "bytes"),
               Column("activation_bytes", "activ.", "bytes"), Column("onload_buffer_bytes", "onload", "bytes"),
               Column("reserve_bytes", "reserve", "bytes"), Column("free_bytes", "free", "bytes"),
               Column("utilization", "used", "share"), Column("units", "units")], main=True,
              notes=["(MiB = 2^20, GiB = 2^30 bytes; onload = room to bring in the largest offloaded unit, or to stage a disk unit on the CPU)"])
    for d in plan.devices:
        held = unit_ranges(list(d.units)) or "-"
        if d.key == plan.execution_device and plan.offload_bytes:
            held += " (+ runs the offloaded units)"
        t.add(device=f"GPU {d.key}" if d.kind == "gpu" else str(d.key), type=d.label, capacity_bytes=d.capacity_bytes,
              weights_bytes=d.load.weights_bytes, kv_bytes=d.load.kv_bytes, activation_bytes=d.load.activation_bytes,
              onload_buffer_bytes=d.load.buffer_bytes, reserve_bytes=d.load.reserve_bytes, free_bytes=d.free_bytes,
              utilization=d.utilization, units=held)
    return t


def _speed_line(plan: Plan) -> str | None:
    speed = plan.decode_tokens_per_s
    if speed is None:
        return None
    batch = plan.profile.workload.batch
    return (f"Decode: at most {speed:,.1f} tokens/s" + (f" ({speed / batch:,.2f} per sequence x {batch})" if batch > 1 else "")
            + " - each step moves the offloaded weights once and reads each GPU's weights and KV once")


def _offload_line(plan: Plan) -> str:
    if plan.offload_bytes:
        return (f"Offload: {gib_gb(plan.offload_bytes)} cross to GPU {plan.execution_device} on every forward pass, "
                f"about {plan.offload_seconds_per_pass:.2f} s at the links' bandwidth")
    if not plan.problem.gpu_indices:
        return "Offload: none; the CPU runs every unit (no GPU in the inventory)"
    return "Offload: none; every unit stays on a GPU"


def _baseline_line(plan: Plan) -> str | None:
    b = plan.baseline
    if b is None:
        return None
    line = f"accelerate device_map=\"auto\" here: offloads {size_text(b.offload_bytes)}"
    if b.disk_bytes:
        line += f" ({size_text(b.disk_bytes)} to disk)"
    if plan.problem.gpu_indices:
        line += f", fullest GPU {b.max_utilization:.1%}"
    if b.violations and not plan.problem.weights_only:
        line += f"; with this workload it breaks: {b.violations[0]}"
    return line


def plan_blocks(plan: Plan) -> list:
    out: list = header_lines(plan.profile)
    out.append("Devices: " + ", ".join(f"{'GPU ' if d.kind == 'gpu' else ''}{d.key} ({d.label}) {size_text(d.capacity_bytes)}"
                                       for d in plan.problem.devices))
    out.append(_status_line(plan))
    if plan.status in ("infeasible", "unknown"):
        if plan.diagnosis is not None:
            out.append(f"Why: {plan.diagnosis.summary()}")
            name, need = plan.diagnosis.largest_unit
            out.append(f"Largest unit: {name} needs {size_text(need)} (weights + KV + activation peak)")
            out += [f"Fits if you: {tip}" for tip in plan.diagnosis.suggestions] or ["No single change tried makes it fit."]
        return out
    out += ["", device_table(plan), _offload_line(plan)]
    speed = _speed_line(plan)
    if speed:
        out.append(speed)
    if plan.hops:
        out.append("GPU hops per forward pass: " + "; ".join(
            f"{h.source} -> {h.target} over {h.link} {h.seconds * 1e6:,.0f} us" for h in plan.hops))
    if (line := _baseline_line(plan)) is not None:
        out.append(line)
    if plan.offload_folder:
        out.append(f"Disk offload folder: {plan.offload_folder}")
    recipe = load_recipe(plan)
    if recipe:
        out.append("Load with: from_pretrained(..., device_map=..., "
                   + ", ".join(f"{k}={v!r}" for k, v in recipe.items()) + ")")  # Python literals, to paste
    if len(plan.device_map) <= 8:
        out.append("device_map = " + json.dumps(plan.device_map))
    else:
        out.append(f"device_map: {len(plan.device_map)} entries (see the units column); print them with --json "
                   "or write them with --device-map-out FILE")
    return out


def plan_table(plan: Plan, fmt: str = "text") -> str:
    return render(plan_blocks(plan), fmt)


def _offloads(plan: Plan) -> bool:
    return any(k in ("cpu", "disk") for k in plan.device_map.values())


def load_recipe(plan: Plan) -> dict:
    """The from_pretrained keywords besides the map that make transformers hold what was planned:
    the dtype and, for a quantization made while loading, its quantization_config (with the
    offload flag bitsandbytes needs when the map has cpu/disk entries)."""
    p = plan.profile
    auto = p.spec.default_dtype if p.spec.dtype_from in ("config", "checkpoint") else None  # what dtype="auto" loads
    out = {} if p.dtype == auto else {"dtype": TORCH_DTYPE_NAMES[p.dtype]}
    config = p.load.quantization_config(_offloads(plan)) if p.load else None
    if config is not None:
        out["quantization_config"] = config
    return out



def device_map_document(plan: Plan) -> dict:
    """What from_pretrained needs, nothing run-dependent: the same plan writes the same bytes."""
    doc = {
        "device_map": plan.device_map,
        "max_memory": {str(k): v for k, v in plan.max_memory.items()},
        "offload_folder": plan.offload_folder,
        **load_recipe(plan),
        "load_with": "from_pretrained(path, **planner.load_device_map(this_file)): JSON keys are strings, it makes GPU keys ints",
    }
    if plan.profile.load is not None and plan.profile.load.needs_checkpoint:
        doc["needs_checkpoint"] = plan.profile.load.needs_checkpoint
    return doc


def plan_json(plan: Plan, timings: bool = False) -> str:
    p = plan.profile
    doc = {
        "status": plan.status,
        "model": p.spec.name,
        "objective": plan.problem.objective,
        "price_basis": plan.problem.price_basis if plan.problem.objective == "cost" else None,
        "weights_only": plan.problem.weights_only,
        "dtype": p.dtype,
        "quant": p.quant.name if p.quant else None,
        "workload": p.workload.model_dump(),
        "load": load_document(p, _offloads(plan)),
        **device_map_document(plan),
        "execution_device": plan.execution_device,
        "devices": [
            {"name": f"cuda:{d.key}" if d.kind == "gpu" else d.key, "key": d.key, "kind": d.kind, "type": d.label,
             "capacity_bytes": d.capacity_bytes, "weights_bytes": d.load.weights_bytes, "kv_bytes": d.load.kv_bytes,
             "activation_bytes": d.load.activation_bytes, "onload_buffer_bytes": d.load.buffer_bytes,
             "reserve_bytes": d.load.reserve_bytes, "free_bytes": d.free_bytes, "units": list(d.units)}
            for d in plan.devices
        ],
        "offload_bytes": plan.offload_bytes,
        "offload_seconds_per_pass": round(plan.offload_seconds_per_pass, 6),
        "decode_tokens_per_s": None if plan.decode_tokens_per_s is None else round(plan.decode_tokens_per_s, 3),
        "objectives": plan.objectives,
        "gap": plan.gap,
    }
    if plan.hops:  # only when the inventory gives its islands
        doc["hops"] = [{"from": h.source, "to": h.target, "link": h.link, "seconds_per_forward_pass": round(h.seconds, 9)}
                       for h in plan.hops]
    if timings:  # wall clock: left out by default so the same input gives the same bytes
        doc["solve_seconds"] = round(plan.solve_seconds, 6)
    if plan.baseline is not None:
        b = plan.baseline
        doc["accelerate"] = {"offload_bytes": b.offload_bytes, "disk_bytes": b.disk_bytes,
                             "max_gpu_utilization": round(b.max_utilization, 6), "violations": list(b.violations)}
    if plan.diagnosis is not None:
        dg = plan.diagnosis
        doc["diagnosis"] = {"summary": dg.summary(), "reason": dg.reason, "shortfall_bytes": dg.shortfall_bytes,
                            "short_devices": {str(k): v for k, v in dg.short_devices.items()}, "need_bytes": dg.need_bytes,
                            "capacity_bytes": dg.capacity_bytes,
                            "largest_unit": {"name": dg.largest_unit[0], "bytes": dg.largest_unit[1]},
                            "suggestions": list(dg.suggestions)}
    return json.dumps(doc, indent=2) + "\n"

"""A Plan as a table for people and as JSON for programs. Formats only; never recomputes."""

from __future__ import annotations

import json

from planner.export.report import header_lines, unit_ranges
from planner.placement import Plan
from planner.units import GB, GiB

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


def _g(n: int) -> str:
    return f"{n / GiB:8.2f}"


def plan_table(plan: Plan) -> str:
    out = header_lines(plan.profile)
    out.append("Devices: " + ", ".join(f"{'GPU ' if d.kind == 'gpu' else ''}{d.key} ({d.label}) {d.capacity_bytes / GiB:.2f} GiB"
                                       for d in plan.problem.devices))
    out.append(_status_line(plan))
    if plan.status in ("infeasible", "unknown"):
        if plan.diagnosis is not None:
            out.append(f"Why: {plan.diagnosis.summary()}")
            name, need = plan.diagnosis.largest_unit
            out.append(f"Largest unit: {name} needs {need / GiB:.2f} GiB (weights + KV + activation peak)")
            out += [f"Fits if you: {tip}" for tip in plan.diagnosis.suggestions] or ["No single change tried makes it fit."]
        return "\n".join(out)
    out += ["", f"{'device':<8}{'type':<18}{'capacity':>9}{'weights':>9}{'KV':>8}{'activ.':>8}{'onload':>8}"
                f"{'reserve':>8}{'free':>8}{'used':>7}  units"]
    for d in plan.devices:
        held = unit_ranges(list(d.units)) or "-"
        if d.key == plan.execution_device and plan.offload_bytes:
            held += " (+ runs the offloaded units)"
        name = f"GPU {d.key}" if d.kind == "gpu" else str(d.key)
        out.append(f"{name:<8}{d.label[:17]:<18}{_g(d.capacity_bytes):>9}{_g(d.load.weights_bytes):>9}{d.load.kv_bytes / GiB:>8.2f}"
                   f"{d.load.activation_bytes / GiB:>8.2f}{d.load.buffer_bytes / GiB:>8.2f}{d.load.reserve_bytes / GiB:>8.2f}"
                   f"{d.free_bytes / GiB:>8.2f}{d.utilization:>7.1%}  {held}")
    out.append("(GiB = 2^30 bytes; onload = room to bring in the largest offloaded unit, or to stage a disk unit on the CPU)")
    if plan.offload_bytes:
        out.append(f"Offload: {plan.offload_bytes / GiB:.2f} GiB ({plan.offload_bytes / GB:.2f} GB) cross to GPU "
                   f"{plan.execution_device} on every forward pass, about {plan.offload_seconds_per_pass:.2f} s at the links' bandwidth")
    elif not plan.problem.gpu_indices:
        out.append("Offload: none; the CPU runs every unit (no GPU in the inventory)")
    else:
        out.append("Offload: none; every unit stays on a GPU")
    b = plan.baseline
    if b is not None:
        line = f"accelerate device_map=\"auto\" here: offloads {b.offload_bytes / GiB:.2f} GiB"
        if b.disk_bytes:
            line += f" ({b.disk_bytes / GiB:.2f} GiB to disk)"
        if plan.problem.gpu_indices:
            line += f", fullest GPU {b.max_utilization:.1%}"
        if b.violations and not plan.problem.weights_only:
            line += f"; with this workload it breaks: {b.violations[0]}"
        out.append(line)
    if plan.offload_folder:
        out.append(f"Disk offload folder: {plan.offload_folder}")
    if len(plan.device_map) <= 8:
        out.append("device_map = " + json.dumps(plan.device_map))
    else:
        out.append(f"device_map: {len(plan.device_map)} entries (see the units column); print them with --json "
                   "or write them with --device-map-out FILE")
    return "\n".join(out)


def device_map_document(plan: Plan) -> dict:
    """What from_pretrained needs, nothing run-dependent: the same plan writes the same bytes."""
    return {
        "device_map": plan.device_map,
        "max_memory": {str(k): v for k, v in plan.max_memory.items()},
        "offload_folder": plan.offload_folder,
        "load_with": "from_pretrained(path, **planner.load_device_map(this_file)): JSON keys are strings, it makes GPU keys ints",
    }


def plan_json(plan: Plan) -> str:
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
        "objectives": plan.objectives,
        "gap": plan.gap,
        "solve_seconds": round(plan.solve_seconds, 6),
    }
    if plan.baseline is not None:
        b = plan.baseline
        doc["accelerate"] = {"offload_bytes": b.offload_bytes, "disk_bytes": b.disk_bytes,
                             "max_gpu_utilization": round(b.max_utilization, 6), "violations": list(b.violations)}
    if plan.diagnosis is not None:
        dg = plan.diagnosis
        doc["diagnosis"] = {"summary": dg.summary(), "shortfall_bytes": dg.shortfall_bytes,
                            "short_devices": {str(k): v for k, v in dg.short_devices.items()}, "need_bytes": dg.need_bytes,
                            "capacity_bytes": dg.capacity_bytes,
                            "largest_unit": {"name": dg.largest_unit[0], "bytes": dg.largest_unit[1]},
                            "suggestions": list(dg.suggestions)}
    return json.dumps(doc, indent=2) + "\n"

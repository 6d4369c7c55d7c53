"""Human-readable tables and the JSON document of an estimate. No printing here: strings out."""

from __future__ import annotations

import json
from itertools import groupby

from planner.costs.profile import Profile
from planner.units import GB, GiB, MiB


def _layer_pattern(name: str) -> tuple[str, int | None]:
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[:i]), int(p)
    return name, None


def collapsed_units(p: Profile) -> list[tuple[str, int, int, int, int, int]]:
    """(label, count, params, weights, kv, activation) with identical consecutive layers merged."""
    rows = []

    def key(u):
        container, idx = _layer_pattern(u.name)
        return (container if idx is not None else u.name, u.weights_bytes, u.kv_bytes, u.activation_peak_bytes, u.parameters)

    for (container, w, kv, act, params), group in groupby(p.units, key=key):
        items = list(group)
        if len(items) == 1:
            label = items[0].name
        else:
            first, last = _layer_pattern(items[0].name)[1], _layer_pattern(items[-1].name)[1]
            label = f"{container}.{first}-{last}"
        rows.append((label, len(items), params, w, kv, act))
    return rows


def _g(n: int) -> str:
    return f"{n / GiB:10.2f} {n / GB:10.2f}"


def header_lines(p: Profile) -> list[str]:
    """The model and workload lines every report starts with."""
    w = p.workload
    spec = p.spec
    quant = p.quant.name + (f" (group {p.quant.group_size})" if p.quant.name in ("int4", "gptq", "awq") else "") if p.quant else "none"
    return [
        f"Model: {spec.name} ({spec.model_type}, {spec.architecture or 'unknown architecture'}), "
        f"{p.parameters:,} parameters, from {spec.source}",
        f"Workload: {w.mode}, {p.dtype} weights, quantization {quant}, KV cache {p.kv_dtype}, batch {w.batch}, "
        f"{w.prompt_tokens} prompt + {w.new_tokens} new tokens, {w.attn_implementation} attention, {w.engine} KV layout",
    ]


def unit_ranges(names: list[str]) -> str:
    """``model.layers.0-12, model.norm``: consecutive numbered modules written as one range."""
    parts: list[str] = []
    run: tuple[str, int, int] | None = None
    for name in names:
        container, idx = _layer_pattern(name)
        if idx is not None and run and run[0] == container and run[2] == idx - 1:
            run = (container, run[1], idx)
            continue
        if run:
            parts.append(f"{run[0]}.{run[1]}" if run[1] == run[2] else f"{run[0]}.{run[1]}-{run[2]}")
            run = None
        if idx is not None and name == f"{container}.{idx}":
            run = (container, idx, idx)
        else:
            parts.append(name)
    if run:
        parts.append(f"{run[0]}.{run[1]}" if run[1] == run[2] else f"{run[0]}.{run[1]}-{run[2]}")
    return ", ".join(parts)


def estimate_table(p: Profile, gpu_lines: list[str] | None = None) -> str:
    out = [
        *header_lines(p),
        "",
        f"{'category':<18}{'GiB':>10} {'GB':>10}",
        f"{'weights':<18}{_g(p.weights_bytes)}",
        f"{'KV cache':<18}{_g(p.kv_bytes)}",
        f"{'activation peak':<18}{_g(p.activation_peak_bytes)}",
        f"{'total':<18}{_g(p.total_bytes)}",
        "",
        "1 GiB = 2^30 bytes, 1 GB = 10^9 bytes. The activation peak is the largest single unit's transient need.",
    ]
    per_param = _nominal_bytes_per_parameter(p)
    rule = p.parameters * per_param * 1.2
    out.append(f"Rule of thumb (parameters x {per_param:g} bytes x 1.2): {rule / GB:.1f} GB; "
               f"exact here: {p.total_bytes / GB:.1f} GB.")
    for note in p.spec.notes:
        out.append(f"Note: {note}")
    if gpu_lines:
        out += [""] + gpu_lines
    out += ["", f"{'unit':<40}{'count':>6}{'params':>16}{'weights MiB':>14}{'KV MiB':>12}{'act peak MiB':>14}"]
    for label, count, params, wb, kv, act in collapsed_units(p):
        out.append(f"{label:<40}{count:>6}{params:>16,}{wb / MiB:>14.1f}{kv / MiB:>12.1f}{act / MiB:>14.1f}")
    out.append("(weights, KV and peak per unit; a range counts each of its units once)")
    return "\n".join(out)


def estimate_json(p: Profile) -> str:
    w = p.workload
    doc = {
        "model": p.spec.name,
        "model_type": p.spec.model_type,
        "architecture": p.spec.architecture,
        "source": p.spec.source,
        "parameters": p.parameters,
        "dtype": p.dtype,
        "kv_dtype": p.kv_dtype,
        "quant": None if p.quant is None else {"scheme": p.quant.name, "group_size": p.quant.group_size, "double_quant": p.quant.double_quant},
        "workload": w.model_dump(),
        "weights_bytes": p.weights_bytes,
        "kv_bytes": p.kv_bytes,
        "activation_peak_bytes": p.activation_peak_bytes,
        "total_bytes": p.total_bytes,
        "no_split_modules": list(p.spec.no_split_modules),
        "tied_groups": [list(g) for g in p.spec.tied_groups],
        "notes": list(p.spec.notes),
        "units": [
            {"name": u.name, "kind": u.kind, "parameters": u.parameters, "weights_bytes": u.weights_bytes,
             "kv_bytes": u.kv_bytes, "activation_peak_bytes": u.activation_peak_bytes}
            for u in p.units
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


def _nominal_bytes_per_parameter(p) -> float:
    """The bytes per parameter the rule of thumb is quoted with for this precision: 2 for bf16
    and fp16, 4 for fp32, 1 for 8-bit formats, 0.5 for 4-bit ones (scales and exceptions aside)."""
    from planner.units import DTYPE_BITS

    if p.quant is None:
        return DTYPE_BITS[p.dtype] / 8
    if p.quant.name in ("int8", "fp8", "fp8-block"):
        return 1.0
    if p.quant.name in ("gptq",):
        return p.quant.bits / 8
    return 0.5

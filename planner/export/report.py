"""Human-readable tables and the JSON document of an estimate. No printing here: strings out."""

from __future__ import annotations

import json
from itertools import groupby

from planner.answers.estimate import Estimate
from planner.costs.profile import Profile, image_patches
from planner.export.table import Column, Table, render
from planner.units import GB, size_text


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


def _attention(p: Profile) -> str:
    """The attention kernel the engine runs, and what was asked when that differs."""
    asked = p.workload.attn_implementation
    return p.attention if p.attention == asked else f"{p.attention} ({asked} asked)"


def header_lines(p: Profile) -> list[str]:
    """The model and workload lines every report starts with."""
    w = p.workload
    spec = p.spec
    quant = p.quant.name + (f" (group {p.quant.group_size})" if p.quant.name in ("int4", "gptq", "awq") else "") if p.quant else "none"
    if p.quant is None and w.quant not in (None, "", "none", "auto"):
        quant += f" ({w.quant} asked; see Load)"
    images = (f", {w.images} images x {image_patches(spec, w)} patches each ({p.image_tokens:,} tokens in the sequence)"
              if w.images else "")
    return [
        f"Model: {spec.name} ({spec.model_type}, {spec.architecture or 'unknown architecture'}), "
        f"{p.parameters:,} parameters, from {spec.source}",
        f"Workload: {w.mode}, {p.dtype} weights{_dtype_origin(p)}, quantization {quant}, KV cache {p.kv_dtype}, "
        f"batch {w.batch}, {w.prompt_tokens} prompt + {w.new_tokens} new tokens{images}, {_attention(p)} "
        f"attention, {w.engine} KV layout",
        *load_lines(p),
    ]


def load_lines(p: Profile) -> list[str]:
    """What the engine's rules did to the request (engines/): a checkpoint it needs, a dequantization, a refusal."""
    load = p.load
    if load is None:
        return []
    out = [f"Checkpoint: sized for {load.needs_checkpoint}"] if load.needs_checkpoint else []
    out += [f"Load: {note}" for note in load.notes]
    if load.offload_refusal:
        out.append(f"Load: no CPU or disk offload: {load.offload_refusal}")
    if load.gpu_only_units:
        out.append(f"Load: {len(load.gpu_only_units)} units stay on GPUs: {load.gpu_only_reason}")
    return out


def load_document(p: Profile, offloads: bool = False) -> dict:
    """The engine's load as JSON: what it holds, what it needs, and the recipe that asks for it."""
    load = p.load
    if load is None:
        return {}
    from planner.engines.load import ENGINES

    return {"engine": ENGINES[load.engine], "method": load.method, "prequantized": load.prequantized,
            "scheme": load.scheme.name if load.scheme else None,
            "offloaded_scheme": load.host_scheme.name if load.host_scheme else None,
            "quantization_config": load.quantization_config(offloads), "vllm_quantization": load.flag,
            "needs_checkpoint": load.needs_checkpoint, "offload_refusal": load.offload_refusal,
            "gpu_only_units": sorted(load.gpu_only_units), "notes": list(load.notes)}


def _dtype_origin(p: Profile) -> str:
    """Where the weights' dtype came from when nobody gave one and the config names none."""
    if p.workload.dtype:
        return ""
    return {"checkpoint": " (the checkpoint's: the config names none)",
            "unnamed": " (neither config nor checkpoint names one: from_config's default; give --dtype)"}.get(p.spec.dtype_from, "")


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


def estimate_blocks(e: Estimate) -> list:
    p = e.profile
    per_param = _nominal_bytes_per_parameter(p)
    rule = p.parameters * per_param * 1.2
    totals = Table([Column("category", "category"), Column("bytes", "", "GiB"), Column("bytes", "", "GB")], [
        {"category": "weights", "bytes": p.weights_bytes}, {"category": "KV cache", "bytes": p.kv_bytes},
        {"category": "activation peak", "bytes": p.activation_peak_bytes}, {"category": "total", "bytes": p.total_bytes}])
    out: list = [*header_lines(p), "", totals, "",
                 "1 GiB = 2^30 bytes, 1 GB = 10^9 bytes. The activation peak is the largest single unit's transient need.",
                 f"Rule of thumb (parameters x {per_param:g} bytes x 1.2): {rule / GB:.1f} GB; "
                 f"exact here: {p.total_bytes / GB:.1f} GB."]
    out += [f"Note: {note}" for note in p.spec.notes]
    if e.needs:
        out.append("")
    for n in e.needs:
        need = ("cannot hold the activation peak" if n.count is None else
                f"needs at least {n.count} (weights and KV spread, each GPU keeping the activation peak)")
        out.append(f"On {n.gpu.name} ({size_text(n.gpu.memory_bytes)}, reserve {size_text(n.reserve_bytes)}): {need}")
    units = Table([Column("unit", "unit"), Column("count", "count", "count"), Column("parameters", "params", "count"),
                   Column("weights_bytes", "weights", "MiB"), Column("kv_bytes", "KV", "MiB"),
                   Column("activation_peak_bytes", "act peak", "MiB")],
                  notes=["(weights, KV and peak per unit; a range counts each of its units once)"], main=True)
    for label, count, params, wb, kv, act in collapsed_units(p):
        units.add(unit=label, count=count, parameters=params, weights_bytes=wb, kv_bytes=kv, activation_peak_bytes=act)
    return [*out, "", units]


def estimate_table(e: Estimate, fmt: str = "text") -> str:
    return render(estimate_blocks(e), fmt)


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
        "load": load_document(p),
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

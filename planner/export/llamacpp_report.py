"""The llama.cpp answer as tables and JSON: memory per device by category, the split, the
``llama-server`` command and the Ollama equivalents."""

from __future__ import annotations

import json

from planner.answers.llamacpp import LlamaCppAnswer
from planner.export.table import Column, Table, render
from planner.units import size_text


def _table(a: LlamaCppAnswer) -> Table:
    unit = "bytes"
    t = Table([Column("device", "device"), Column("layers", "layers"), Column("weights", "weights", unit),
               Column("kv", "KV cache", unit), Column("compute", "compute", unit), Column("other", "other", unit),
               Column("total", "total", unit), Column("capacity", "capacity", unit)],
              title="memory per device", main=True)
    for d in a.devices:
        t.add(device=d.device, layers=d.layers, weights=d.weights, kv=d.kv, compute=d.compute, other=d.other,
              total=d.total, capacity=d.capacity)
    t.notes.append("other: the logits buffer on the CPU, the reserve (CUDA context) on a GPU; MiB = 2^20, GiB = 2^30 bytes")
    return t


def llamacpp_blocks(a: LlamaCppAnswer) -> list:
    m = a.model
    lines = [f"{m.name} ({m.arch}, {m.quant_label}): {m.parameters:,} parameters, {m.tensor_bytes:,} bytes of tensors "
             f"({size_text(m.tensor_bytes)}) in {len(m.files)} file(s)",
             f"context: -c {a.n_ctx:,} ({a.cells:,} cells per sequence x {a.context.n_seq}), KV {a.context.type_k}/"
             f"{a.context.type_v}, flash attention {'on' if a.context.flash_attn else 'off'}, ubatch {a.context.n_ubatch}"]
    blocks: list = [*lines, "", _table(a)]
    if a.server_args:
        blocks += ["", f"split: -ngl {a.ngl}" + (f", -ts {','.join(map(str, a.tensor_split))}" if len(a.tensor_split) > 1 else "")
                   + (f", experts of {len(a.experts_on_cpu)} layers on the CPU" if a.experts_on_cpu else "")
                   + f" ({'proven optimal' if a.proven else 'best found, not proven'}: "
                   f"{size_text(a.host_read_bytes)} read from host memory per token)"]
        if a.tokens_per_s:
            blocks.append(f"decode: at most {a.tokens_per_s:,.1f} tokens/s per sequence (memory-bound: each byte read once "
                          "per token at its device's bandwidth)")
        blocks += ["", "llama-server:", "  " + a.command]
        if a.ollama:
            blocks += ["", "Ollama:", *("  " + line for line in a.ollama)]
    blocks += [f"note: {n}" for n in a.notes]
    return blocks


def llamacpp_table(a: LlamaCppAnswer, fmt: str = "text") -> str:
    return render(llamacpp_blocks(a), fmt)


def llamacpp_json(a: LlamaCppAnswer, timings: bool = False) -> str:
    m = a.model
    doc = {
        "engine": "llama.cpp",
        "model": {"name": m.name, "source": m.source, "arch": m.arch, "file_type": m.quant_label, "files": list(m.files),
                  "parameters": m.parameters, "tensor_bytes": m.tensor_bytes, "n_layer": m.n_layer,
                  "hf_repo": m.hf_repo, "hf_file": m.hf_file, "ollama": m.ollama},
        "context": {"n_ctx": a.n_ctx, "cells_per_sequence": a.cells, "n_seq": a.context.n_seq, "cache_type_k": a.context.type_k,
                    "cache_type_v": a.context.type_v, "flash_attn": a.context.flash_attn, "n_ubatch": a.context.n_ubatch},
        "devices": [{"device": d.device, "layers": d.layers, "weights_bytes": d.weights, "kv_bytes": d.kv,
                     "compute_bytes": d.compute, "other_bytes": d.other, "total_bytes": d.total,
                     "capacity_bytes": d.capacity} for d in a.devices],
        "fits": a.fits,
    }
    if a.server_args:
        doc["split"] = {"ngl": a.ngl, "tensor_split": list(a.tensor_split), "experts_on_cpu": list(a.experts_on_cpu),
                        "host_read_bytes_per_token": a.host_read_bytes, "proven_optimal": a.proven}
        doc["llama_server"] = list(a.server_args)
        doc["tokens_per_s"] = a.tokens_per_s
        if a.ollama:
            doc["ollama"] = list(a.ollama)
    doc["notes"] = list(a.notes)
    return json.dumps(doc, indent=2) + "\n"


def size_blocks(a) -> list:
    m = a.model
    t = Table([Column("gpu", "GPU"), Column("count", "count", "count"), Column("price_usd", "USD", "usd"),
               Column("price_usd_per_hour", "USD/h", "usd_per_hour"), Column("ngl", "-ngl", "count"),
               Column("tokens_per_s", "tokens/s", "tokens_per_s"), Column("reason", "why not")],
              title="fewest GPUs per type (llama.cpp, everything on the GPUs)", main=True)
    for r in a.rows:
        t.add(gpu=r.gpu, count=r.count, price_usd=r.price_usd, price_usd_per_hour=r.price_usd_per_hour,
              ngl=r.answer.ngl if r.answer else None, tokens_per_s=r.answer.tokens_per_s if r.answer else None,
              reason=r.reason or "-")
    blocks: list = [f"{m.name} ({m.arch}, {m.quant_label}): {m.tensor_bytes:,} bytes of tensors ({size_text(m.tensor_bytes)})",
                    "", t]
    best = a.best
    if best is not None:
        blocks += ["", f"best by {a.objective}: {best.count} x {best.gpu}", *llamacpp_blocks(best.answer)[1:]]
    else:
        blocks += ["", "no candidate GPU type holds the model within the GPU limit; give --gpu-types or --max-gpus, "
                   "or plan a CPU/GPU split with planner plan --cpu SIZE"]
    return blocks


def size_table(a, fmt: str = "text") -> str:
    return render(size_blocks(a), fmt)


def size_json(a, timings: bool = False) -> str:
    doc = {"engine": "llama.cpp", "objective": a.objective, "fits": a.fits,
           "rows": [{"gpu": r.gpu, "count": r.count, "price_usd": r.price_usd, "price_usd_per_hour": r.price_usd_per_hour,
                     "llama_server": list(r.answer.server_args) if r.answer else None,
                     "tokens_per_s": r.answer.tokens_per_s if r.answer else None, "reason": r.reason or None}
                    for r in a.rows]}
    if a.best is not None:
        doc["best"] = json.loads(llamacpp_json(a.best.answer))
    return json.dumps(doc, indent=2) + "\n"

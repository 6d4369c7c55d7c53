"""`planner size --have 8xH100`: what the GPUs you have can serve, per precision. Formats only."""

from __future__ import annotations

import json

from planner.answers.size import CapacityAnswer
from planner.export.table import Column, Table, render
from planner.units import size_text


def _layout(entry) -> str | None:
    if entry is None:
        return None
    _, layout, replicas = entry
    return f"{replicas} x tp {layout.tp} x pp {layout.pp}"


def capacity_blocks(a: CapacityAnswer) -> list:
    t = Table([Column("precision", "precision"), Column("weights_bytes", "weights", "bytes"),
               Column("longest_context", f"longest context, {a.concurrency} seqs", "count"),
               Column("longest_layout", "layout"),
               Column("most_sequences", f"most seqs at {a.context} tokens", "count"), Column("most_layout", "layout")],
              notes=["(longest context: KV tokens of a replica // its share of the sequences, at most the model's "
                     f"own limit of {a.rows[0].profile.spec.max_model_len:,} positions)" if a.rows and
                     a.rows[0].profile.spec.max_model_len else "(longest context: KV tokens of a replica // its share "
                     "of the sequences)"], main=True)
    notes = []
    for r in a.rows:
        if r.profile is None:
            notes.append(f"{r.label}: {r.refused}")
            continue
        if r.profile.load is not None and r.profile.load.needs_checkpoint:
            notes.append(f"{r.label}: sized for {r.profile.load.needs_checkpoint}")
        t.add(precision=r.label, weights_bytes=r.profile.weights_bytes,
              longest_context=r.longest[0] if r.longest else None, longest_layout=_layout(r.longest),
              most_sequences=r.most[0] if r.most else 0, most_layout=_layout(r.most))
    name = a.rows[0].profile.spec.name if a.rows else ""
    return [f"{a.count} x {a.gpu.name} ({size_text(a.gpu.memory_bytes)} each) serving {name} with vLLM", t, *notes]


def capacity_table(a: CapacityAnswer, fmt: str = "text") -> str:
    return render(capacity_blocks(a), fmt)


def capacity_json(a: CapacityAnswer) -> str:
    def entry(e):
        if e is None:
            return None
        value, layout, replicas = e
        return {"value": value, "replicas": replicas, "tensor_parallel_size": layout.tp, "pipeline_parallel_size": layout.pp,
                "kv_cache_tokens_per_replica": layout.kv_tokens}

    return json.dumps({"gpu": a.gpu.name, "count": a.count, "context": a.context, "concurrency": a.concurrency, "precisions": [
        {"precision": r.label, "weights_bytes": r.profile.weights_bytes if r.profile else None,
         "longest_context": entry(r.longest), "most_sequences": entry(r.most), "refused": r.refused,
         "needs_checkpoint": r.profile.load.needs_checkpoint if r.profile and r.profile.load else None}
        for r in a.rows]}, indent=2) + "\n"

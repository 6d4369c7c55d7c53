"""What-if results as a terminal table, CSV, Markdown or JSON, through the one Table model. Formats only."""

from __future__ import annotations

import json

from planner.export.table import Column, Table, table_csv, table_markdown, table_text

COLUMNS = {
    "plan": ["status", "fits", "gpus_used", "price_usd", "price_usd_per_hour", "weights_bytes", "kv_bytes", "activation_bytes",
             "reserve_bytes", "offload_bytes", "headroom_bytes", "reason"],
    "size": ["status", "fits", "gpus_used", "layout", "price_usd", "price_usd_per_hour", "weights_bytes", "kv_tokens",
             "tokens_per_s", "reason"],
    "estimate": ["status", "weights_bytes", "kv_bytes", "activation_bytes", "total_bytes", "reason"],
    "training": ["status", "fits", "weights_bytes", "gradients_bytes", "optimizer_bytes", "activation_bytes", "peak_bytes",
                 "headroom_bytes", "reason"],
}
# Column titles and units for people; a key not listed shows as itself (``_bytes`` keys in GiB).
_HUMAN = {"gpus_used": ("GPUs", "count"), "price_usd": ("USD", "usd"), "price_usd_per_hour": ("USD/h", "usd_per_hour"),
          "tokens_per_s": ("tokens/s", "tokens_per_s"), "kv_tokens": ("KV tokens", "count"), "activation_bytes": ("act", "bytes"),
          "headroom_bytes": ("headroom", "bytes")}


def _column(key: str) -> Column:
    if key in _HUMAN:
        return Column(key, *_HUMAN[key])
    if key.endswith("_bytes"):
        return Column(key, key.removesuffix("_bytes"), "bytes")
    return Column(key, key)


def _table(task: str, rows: list[dict]) -> Table:
    axes = list(dict.fromkeys(k for r in rows for k in r["axes"]))
    fits = sum(1 for r in rows if r["results"].get("fits"))
    errors = sum(1 for r in rows if r["results"].get("status") == "error")
    undecided = sum(1 for r in rows if r["results"].get("status") == "unknown")
    columns = [Column("point", "point"), *(_column(a) for a in axes), *(_column(c) for c in COLUMNS[task])]
    counts = f"{len(rows)} points: {fits} fit, {len(rows) - fits - errors - undecided} do not, "
    counts += f"{undecided} undecided within the time limit, " if undecided else ""
    t = Table(columns, notes=[f"{counts}{errors} errors (MiB = 2^20, GiB = 2^30 bytes)"])
    for r in rows:
        t.rows.append({"point": r["point"], **r["axes"], **{c: r["results"].get(c) for c in COLUMNS[task]}})
    return t


def to_table(task: str, rows: list[dict]) -> str:
    return table_text(_table(task, rows))


def to_markdown(task: str, rows: list[dict]) -> str:
    t = _table(task, rows)
    t.notes = []
    return table_markdown(t) + "\n"


def to_csv(task: str, rows: list[dict]) -> str:
    return table_csv(_table(task, rows))


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2) + "\n"

"""What-if results as a terminal table, CSV, Markdown or JSON. Formats only."""

from __future__ import annotations

import csv
import io
import json

COLUMNS = {
    "plan": ["status", "fits", "gpus_used", "price_usd", "price_usd_per_hour", "weights_bytes", "kv_bytes", "activation_bytes",
             "reserve_bytes", "offload_bytes", "headroom_bytes", "reason"],
    "size": ["status", "fits", "gpus_used", "layout", "price_usd", "price_usd_per_hour", "weights_bytes", "kv_tokens",
             "tokens_per_s", "reason"],
    "estimate": ["status", "weights_bytes", "kv_bytes", "activation_bytes", "total_bytes", "reason"],
    "training": ["status", "fits", "weights_bytes", "gradients_bytes", "optimizer_bytes", "activation_bytes", "peak_bytes",
                 "headroom_bytes", "reason"],
}


def _axes(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r["axes"]))


def _cell(key: str, value, human: bool) -> str:
    if value is None:
        return "" if not human else "-"
    if human and key.endswith("_bytes"):
        return f"{value / 2**30:.2f}"
    if isinstance(value, bool):
        return ("yes" if value else "no") if human else ("true" if value else "false")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


SHORT = {"gpus_used": "GPUs", "price_usd": "USD", "price_usd_per_hour": "USD/h", "tokens_per_s": "tokens/s",
         "kv_tokens": "KV tokens", "activation_bytes": "act GiB", "headroom_bytes": "headroom GiB"}


def header(task: str, rows: list[dict], human: bool) -> list[str]:
    cols = COLUMNS[task]
    names = [SHORT.get(c, c.replace("_bytes", " GiB")) for c in cols] if human else cols
    return ["point", *_axes(rows), *names]


def cells(task: str, rows: list[dict], human: bool) -> list[list[str]]:
    axes = _axes(rows)
    return [[str(r["point"]), *(_cell(a, r["axes"].get(a), human) for a in axes),
             *(_cell(c, r["results"].get(c), human) for c in COLUMNS[task])] for r in rows]


def to_table(task: str, rows: list[dict]) -> str:
    head, body = header(task, rows, True), cells(task, rows, True)
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    widths[-1] = len(head[-1])  # the reason column is last and left unpadded
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip()
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in body]
    fits = sum(1 for r in rows if r["results"].get("fits"))
    errors = sum(1 for r in rows if r["results"].get("status") == "error")
    out.append(f"{len(rows)} points: {fits} fit, {len(rows) - fits - errors} do not, {errors} errors (GiB = 2^30 bytes)")
    return "\n".join(out)


def to_markdown(task: str, rows: list[dict]) -> str:
    head, body = header(task, rows, True), cells(task, rows, True)
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
    return "\n".join(out) + "\n"


def to_csv(task: str, rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header(task, rows, False))
    writer.writerows(cells(task, rows, False))
    return buf.getvalue()


def to_json(rows: list[dict]) -> str:
    return json.dumps(rows, indent=2) + "\n"

"""Every report's tables, one model: columns that carry their unit, four renderers.

A table holds raw values (bytes as integers, prices in USD). Only the renderers convert: the text
and Markdown ones for people (bytes as GiB = 2^30 or GB = 10^9, named in the column title), the
CSV and JSON ones for programs (the raw values under the column keys, units in the key names).
A report is a list of blocks, each a line of prose or a ``Table``; ``render`` writes the whole
report in one format.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from planner.units import GB, GiB, MiB, gib, gib_gb

__all__ = ["FORMATS", "Column", "Table", "gib", "gib_gb", "render", "table_csv", "table_markdown", "table_text"]

# How each unit shows to people: (scale, format). Bytes scale to the unit the title names.
_HUMAN = {
    "GiB": (GiB, "{:.2f}"), "GB": (GB, "{:.2f}"), "MiB": (MiB, "{:.1f}"), "TiB": (1024 * GiB, "{:.2f}"),
    "bytes": (GiB, "{:.2f}"),
    "count": (1, "{:,}"), "usd": (1, "{:,.0f}"), "usd_per_hour": (1, "{:.2f}"), "tokens_per_s": (1, "{:,.0f}"), "rate": (1, "{:,.0f}"),
    "share": (1, "{:.1%}"), "number": (1, "{:g}"), "ratio": (1, "{:.2f}"), "ms": (1, "{:.2f}"), "watts": (1, "{:,.0f}"),
    "text": (1, "{}"),
}
FORMATS = ("text", "markdown", "csv", "json")


@dataclass(frozen=True)
class Column:
    """One column: the key its values have in each row, the title people read, and the unit.

    ``unit`` is one of ``_HUMAN``'s keys; for bytes it is the unit shown (GiB, GB or MiB) and the
    title gets it appended, so no report writes a conversion by hand."""

    key: str
    title: str
    unit: str = "text"

    def __post_init__(self) -> None:
        if self.unit not in _HUMAN:
            raise ValueError(f"column {self.key}: unknown unit {self.unit!r}")

    @property
    def heading(self) -> str:
        return f"{self.title} {self.unit}".strip() if self.unit in ("GiB", "GB", "MiB", "TiB") else self.title

    @property
    def numeric(self) -> bool:
        return self.unit != "text"

    def human(self, value) -> str:
        if value is None or (isinstance(value, float) and value != value):
            return "-"
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, list | dict):
            return json.dumps(value, separators=(",", ":"))
        scale, fmt = _HUMAN[self.unit]
        if not isinstance(value, int | float):
            return str(value)
        return fmt.format(value / scale if scale != 1 else value)


@dataclass
class Table:
    """Rows of raw values under named, unit-carrying columns; ``notes`` print under the text form."""

    columns: list[Column]
    rows: list[dict] = field(default_factory=list)
    title: str = ""
    notes: list[str] = field(default_factory=list)
    indent: int = 0
    main: bool = False
    """The table a CSV of the report holds (else its first table)."""

    def add(self, **values) -> None:
        self.rows.append(values)

    def shown_columns(self) -> list[Column]:
        """The columns as shown: ``bytes`` columns in the one binary unit the table's largest byte
        figure needs (MiB, GiB or TiB; capacities, reserves and free room aside), so a small model does not read 0.00 and a large one not
        1,048,576.0, and every byte column of a table reads in the same unit."""
        yardsticks = ("capacity", "free", "reserve", "headroom")  # the loads set the unit; these measure against them
        keys = {c.key for c in self.columns if c.unit == "bytes" and not any(y in c.key for y in yardsticks)} or {
            c.key for c in self.columns if c.unit == "bytes"}
        largest = max((abs(v) for r in self.rows for k in keys if isinstance(v := r.get(k), int | float)), default=0)
        unit = "TiB" if largest >= 1024**4 else "GiB" if largest >= GiB else "MiB"
        return [Column(c.key, c.title, unit) if c.unit == "bytes" else c for c in self.columns]

    def cells(self) -> list[list[str]]:
        shown = self.shown_columns()
        return [[c.human(r.get(c.key)) for c in shown] for r in self.rows]

    def records(self) -> list[dict]:
        """Raw values under machine keys; byte columns say bytes in the key."""
        return [{k: r.get(k) for k in self.keys()} for r in self.rows]

    def keys(self) -> list[str]:
        """Machine column names: one per key (a value shown in GiB and GB is one raw column)."""
        return list(dict.fromkeys(c.key for c in self.columns))


def table_text(t: Table) -> str:
    heads, body = [c.heading for c in t.shown_columns()], t.cells()
    widths = [max([len(h), *(len(row[i]) for row in body)]) for i, h in enumerate(heads)]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if c.numeric else v.ljust(w) for c, v, w in zip(t.columns, values, widths, strict=True)]
        return (" " * t.indent + "  ".join(parts)).rstrip()

    out = [t.title] if t.title else []
    out += [line(heads), *(line(row) for row in body), *t.notes]
    return "\n".join(out)


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_markdown(t: Table) -> str:
    out = [f"**{_md_cell(t.title)}**", ""] if t.title else []
    out.append("| " + " | ".join(_md_cell(c.heading) for c in t.shown_columns()) + " |")
    out.append("|" + "".join("---:|" if c.numeric else "---|" for c in t.columns))
    out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in t.cells()]
    out += ["", *(_md_cell(n) for n in t.notes)] if t.notes else []
    return "\n".join(out)


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if value == value else ""
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def table_csv(t: Table) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(t.keys())
    writer.writerows([[_csv_value(v) for v in rec.values()] for rec in t.records()])
    return buf.getvalue()


def render(blocks: list, fmt: str = "text") -> str:
    """A report (prose lines and tables, in order) in one format. CSV is the report's main table
    (the one marked ``main``, else the first); JSON is every table's records under its title (or ``table``, ``table_2``...)."""
    tables = [b for b in blocks if isinstance(b, Table)]
    if fmt == "csv":
        if not tables:
            raise ValueError("this report has no table to write as CSV")
        return table_csv(next((t for t in tables if t.main), tables[0]))
    if fmt == "json":
        doc: dict = {"lines": [b for b in blocks if isinstance(b, str) and b]}
        for i, t in enumerate(tables):
            key = t.title.rstrip(":") if t.title else "table" if i == 0 else f"table_{i + 1}"
            doc[key] = t.records()
        return json.dumps(doc, indent=2) + "\n"
    if fmt == "markdown":
        out = []
        for b in blocks:
            out.append(table_markdown(b) + "\n" if isinstance(b, Table) else _md_cell(b) + ("  " if b else ""))
        return "\n".join(out).rstrip("\n") + "\n"
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return "\n".join(table_text(b) if isinstance(b, Table) else b for b in blocks)


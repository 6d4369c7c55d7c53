"""The one Table model: units convert only in the human renderers, CSV and JSON carry raw values,
and every report offers the same four formats."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from planner.export.table import Column, Table, render, table_csv, table_markdown, table_text


def _table() -> Table:
    t = Table([Column("name", "name"), Column("bytes", "size", "GiB"), Column("bytes", "size", "GB"),
               Column("price_usd", "USD", "usd"), Column("share", "used", "share")], main=True, notes=["(a note)"])
    t.add(name="a|b", bytes=3 * 2**30, price_usd=1234.5, share=0.5)
    t.add(name="c", bytes=10**9, price_usd=None, share=1.0)
    return t


def test_text_converts_bytes_to_both_units_and_aligns_numbers_right():
    lines = table_text(_table()).splitlines()
    assert lines[0].split() == ["name", "size", "GiB", "size", "GB", "USD", "used"]
    assert lines[1].split() == ["a|b", "3.00", "3.22", "1,234", "50.0%"]  # 3 GiB = 3.221225472 GB
    assert lines[2].split() == ["c", "0.93", "1.00", "-", "100.0%"]  # 10^9 bytes = 0.931 GiB
    assert lines[1].index("3.00") + 4 == lines[2].index("0.93") + 4  # right-aligned in one column
    assert lines[-1] == "(a note)"


def test_csv_holds_raw_values_once_per_key():
    rows = list(csv.reader(io.StringIO(table_csv(_table()))))
    assert rows[0] == ["name", "bytes", "price_usd", "share"]  # GiB and GB views of one value: one raw column
    assert rows[1] == ["a|b", str(3 * 2**30), "1234.5", "0.5"]
    assert rows[2] == ["c", str(10**9), "", "1"]


def test_markdown_escapes_pipes_and_right_aligns_numbers():
    md = table_markdown(_table()).splitlines()
    assert md[0] == "| name | size GiB | size GB | USD | used |"
    assert md[1] == "|---|---:|---:|---:|---:|"
    assert md[2].startswith("| a\\|b | 3.00 |")


def test_render_json_and_csv_pick_the_main_table():
    other = Table([Column("x", "x", "count")], [{"x": 1}])
    blocks = ["a line", other, _table()]
    assert render(blocks, "csv").splitlines()[0] == "name,bytes,price_usd,share"
    doc = json.loads(render(blocks, "json"))
    assert doc["lines"] == ["a line"] and doc["table"] == [{"x": 1}]
    assert doc["table_2"][1] == {"name": "c", "bytes": 10**9, "price_usd": None, "share": 1.0}
    with pytest.raises(ValueError):
        render(blocks, "xml")


def test_unknown_unit_is_refused():
    with pytest.raises(ValueError):
        Column("x", "x", "furlongs")


@pytest.mark.parametrize("args", [
    ["estimate", "Llama-3.2-1B"], ["size", "Llama-3.1-70B", "--context", "8192", "--gpu-type", "H100"],
    ["plan", "Llama-3.2-1B", "--gpu", "RTX4090"], ["catalog", "gpus"],
])
def test_every_report_writes_csv_whose_numbers_are_raw(args):
    """The CSV of each command is its main table with integers of bytes, plain USD and watts,
    never GiB strings or thousands separators (size's main table is the bill of materials)."""
    out = subprocess.run([sys.executable, "-m", "planner", *args, "--format", "csv"], capture_output=True, text=True,
                         check=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows
    byte_keys = [k for k in rows[0] if k.endswith("_bytes")]
    money_keys = [k for k in rows[0] if k.endswith(("_usd", "_w"))]
    assert byte_keys or money_keys, rows[0].keys()
    for r in rows:
        for k in byte_keys:
            assert r[k] == "" or r[k].isdigit(), (k, r[k])
        for k in money_keys:
            assert r[k] == "" or float(r[k]) >= 0 and "," not in r[k], (k, r[k])

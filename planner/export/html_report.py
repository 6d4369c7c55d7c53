"""A self-contained, interactive HTML report (``--html FILE``): works offline, no CDN. Chart.js
(MIT, vendored in ``export/assets``) draws per-device stacked memory (bytes on hover, the units a
device holds), a plan's layer map, and a sweep's small multiples; every table of the report is
sortable and filterable. The same series the PNG charts draw; this module only formats."""

from __future__ import annotations

import html
import json
from importlib import resources

from planner.export.table import Table

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1800px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table.data{border-collapse:collapse;margin:6px 0 18px;font-size:12px}
table.data th,table.data td{border:1px solid #ccc;padding:3px 7px;text-align:right;white-space:nowrap}
table.data td.text,table.data th.text{text-align:left}
table.data th{background:#f3f3f3;cursor:pointer}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
input.filter{display:block;margin:10px 0 2px;padding:3px 6px;width:260px}
.grid{display:flex;flex-wrap:wrap;gap:10px}.panel{border:1px solid #eee;padding:4px}
.layers{display:flex;flex-wrap:wrap;gap:2px;margin:6px 0}
.layers span{display:inline-block;width:14px;height:22px}
.legend span{display:inline-block;padding:1px 6px;margin-right:6px;color:#fff;border-radius:3px}
p.line{margin:2px 0;white-space:pre-wrap}
"""
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")


def _asset(name: str) -> str:
    return resources.files("planner.export").joinpath("assets", name).read_text(encoding="utf-8")


def _script(text: str) -> str:
    return text.replace("</script", "<\\/script")


def table_html(t: Table) -> str:
    shown = t.shown_columns()
    head = "".join(f'<th class="{"" if c.numeric else "text"}">{html.escape(c.heading)}</th>' for c in shown)
    rows = []
    for raw, cells in zip(t.rows, t.cells(), strict=True):
        tds = []
        for c, text in zip(shown, cells, strict=True):
            value = raw.get(c.key)
            sort = value if isinstance(value, int | float) and not isinstance(value, bool) else text
            tds.append(f'<td class="{"" if c.numeric else "text"}" data-raw="{html.escape(str(sort))}">'
                       f"{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(tds) + "</tr>")
    title = f"<h2>{html.escape(t.title)}</h2>" if t.title else ""
    notes = "".join(f'<p class="line">{html.escape(n)}</p>' for n in t.notes)
    return f'{title}<table class="data"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{notes}'


def blocks_html(blocks: list) -> str:
    out = []
    for b in blocks:
        if isinstance(b, Table):
            out.append(table_html(b))
        elif b:
            out.append(f'<p class="line">{html.escape(b)}</p>')
    return "\n".join(out)


def page(title: str, body: str, charts: list[dict]) -> str:
    data = json.dumps({"charts": charts}, separators=(",", ":"))
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n"
            f'<script type="application/json" id="planner-data">{_script(data)}</script>\n'
            f"<script>{_script(_asset('chart.umd.min.js'))}</script>\n<script>{_script(_asset('report.js'))}</script>"
            "</body></html>\n")


def panels_charts(panels, group_id: str) -> dict:
    """One chart group (a grid of canvases) of a sweep's small multiples."""
    from planner.answers.sweep_series import text

    specs = []
    sums = [sum(v or 0 for v in col) for panel in panels.values for col in zip(*panel, strict=True)] if panels.stacked else \
        [v for panel in panels.values for line in panel for v in line if v is not None]
    top = max(sums, default=0) * 1.05 or None  # one y scale for every panel, so panels compare at a glance
    for k, label in enumerate(panels.panel_labels):
        series = [{"label": colour, "values": list(panels.values[k][c])} for c, colour in enumerate(panels.colours)]
        specs.append({"kind": "bar" if panels.stacked else "line", "stacked": panels.stacked, "title": label,
                      "x": [text(x) for x in panels.x_values], "x_label": panels.x_label, "y_label": panels.y_label,
                      "y_max": top, "series": series})
    return {"id": group_id, "title": panels.question, "panels": specs}


def device_chart(group_id: str, names: list[str], parts: list[str], values: list[list[int]], notes: list[str]) -> dict:
    """Per-device stacked memory: ``values[part][device]`` bytes; hover shows bytes and the device's units."""
    from planner.answers.sweep_panels import byte_unit

    scale, unit = byte_unit(max((sum(col) for col in zip(*values, strict=True)), default=0) if values else 0)
    series = [{"label": part, "values": [v / scale for v in row], "raw": row, "notes": notes}
              for part, row in zip(parts, values, strict=True)]
    return {"id": group_id, "width": max(420, 120 * len(names)), "height": 340,
            "panels": [{"kind": "bar", "stacked": True, "title": "memory per device", "x": names, "x_label": "device",
                        "y_label": unit, "series": series}]}


def chart_div(group: dict) -> str:
    title = f"<h2>{html.escape(group['title'])}</h2>" if group.get("title") else ""
    return f'{title}<div class="grid" id="{group["id"]}"></div>'

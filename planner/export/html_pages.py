"""The HTML report of each answer ``--html`` is offered for (plan, size, whatif): the report's own
lines and tables, plus the charts that answer's reader needs (export/html_report.py formats)."""

from __future__ import annotations

import html

from planner.export.html_report import PALETTE, blocks_html, chart_div, device_chart, page, panels_charts


def _layer_map(names: list[str], keys: list) -> str:
    """One cell per unit in model order, coloured by its device; hover names both."""
    devices = list(dict.fromkeys(str(k) for k in keys))
    colour = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(devices)}
    legend = "".join(f'<span style="background:{colour[d]}">{html.escape(_device(d))}</span>' for d in devices)
    cells = "".join(f'<span style="background:{colour[str(k)]}" title="{html.escape(n)} on {html.escape(_device(str(k)))}">'
                    "</span>" for n, k in zip(names, keys, strict=True))
    return f'<h2>layer map</h2><div class="legend">{legend}</div><div class="layers" id="layer-map">{cells}</div>'


def _device(key: str) -> str:
    return f"GPU {key}" if key.isdigit() else key


def plan_html(plan) -> str:
    from planner.answers.charts import DEVICE_PARTS, device_bars
    from planner.export.plan_report import device_table, plan_blocks
    from planner.placement.plan import unit_keys

    body, charts = [], []
    if plan.assignment is not None:
        bars = device_bars(plan)
        names, keys = unit_keys(plan.problem, plan.assignment)
        held = {row["device"]: row["units"] for row in device_table(plan).rows}
        labels = [name for name, _ in bars]
        notes = [f"holds {held.get(label) or 'nothing'}" for label in labels]
        charts.append(device_chart("devices", labels, list(DEVICE_PARTS), [[parts[i] for _, parts in bars]
                                                                          for i in range(len(DEVICE_PARTS))], notes))
        body += [chart_div(charts[-1]), _layer_map(names, keys)]
    body.append(blocks_html(plan_blocks(plan)))
    return page(f"planner plan: {plan.profile.spec.name}", "\n".join(body), charts)


def llamacpp_html(answer) -> str:
    from planner.export.llamacpp_report import llamacpp_blocks

    parts = ["weights", "KV cache", "compute", "other"]
    values = [[getattr(d, k) for d in answer.devices] for k in ("weights", "kv", "compute", "other")]
    chart = device_chart("devices", [d.device for d in answer.devices], parts, values, [d.layers for d in answer.devices])
    return page(f"planner: {answer.model.name} in llama.cpp", chart_div(chart) + blocks_html(llamacpp_blocks(answer)),
                [chart])


def size_html(answer) -> str:
    from planner.answers.llamacpp_size import LlamaCppSizeAnswer

    if isinstance(answer, LlamaCppSizeAnswer):
        from planner.export.llamacpp_report import size_blocks

        return page(f"planner size: {answer.model.name} in llama.cpp", blocks_html(size_blocks(answer)), [])
    from planner.export.size_report import size_blocks

    return page(f"planner size: {answer.profile.spec.name}", blocks_html(size_blocks(answer)), [])


def whatif_html(answer, charts_of) -> str:
    """``charts_of``: the Charts of the answer (answers/charts.chart_series), computed by the caller."""
    from planner.answers.charts import DEVICE_PARTS
    from planner.export.rows import _table

    c = charts_of
    groups, body = [], []
    for k, panels in enumerate(c.panels):
        groups.append(panels_charts(panels, f"sweep-{k}"))
        body.append(chart_div(groups[-1]))
    if c.devices:
        groups.append(device_chart("devices", [n for n, _ in c.devices], list(DEVICE_PARTS),
                                   [[parts[i] for _, parts in c.devices] for i in range(len(DEVICE_PARTS))],
                                   ["" for _ in c.devices]))
        groups[-1]["title"] = f"plan of point {c.devices_point}"
        body.append(chart_div(groups[-1]))
    table = _table(answer.task, list(answer.rows))
    table.title = "points"
    body.append(blocks_html([table]))
    return page(f"planner whatif: {c.model} ({len(answer.rows)} points)", "\n".join(body), groups)

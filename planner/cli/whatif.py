"""``planner whatif`` (run a YAML sweep) and ``planner schema`` (its JSON Schema for editors)."""

from __future__ import annotations

import os
import sys

import click


@click.command("whatif")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), help="Also write the rows as CSV (bytes, raw values).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the rows as JSON ('-' for stdout).")
@click.option("--markdown", "md_out", type=click.Path(dir_okay=False), help="Also write the table as Markdown.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write an interactive, self-contained HTML "
              "report (the sweep's small multiples, a sortable and filterable table of points; works offline).")
@click.option("--plot", "plot_dir", type=click.Path(file_okay=False), help="Write PNG and SVG charts into this folder.")
@click.option("--jobs", type=int, default=None, help="Processes to run points in [default: CPU cores, at most 8].")
@click.option("--max-points", type=int, default=10_000, show_default=True, help="Refuse sweeps larger than this.")
@click.option("--fail-on-misfit", is_flag=True,
              help="Exit 3 when any point does not fit or failed (for scripts); the rows are still printed and written.")
@click.option("--progress/--no-progress", default=None,
              help="Show a progress bar on stderr [default: when stderr is a terminal, outside CI].")
@click.pass_context
def whatif(ctx, file, csv_out, json_out, md_out, html_out, plot_dir, jobs, max_points, fail_on_misfit, progress):
    """Run every point of a what-if FILE (a scenario with a sweep) and print one row per point."""
    from planner.answers.whatif import answer_whatif
    from planner.api import whatif_request
    from planner.errors import InputError
    from planner.export.rows import to_csv, to_json, to_markdown, to_table
    from planner.files import check_output, make_folder, write_atomic

    request = whatif_request(file, jobs, max_points)  # bad values are refused before anything is made
    outputs = (("--csv", csv_out, to_csv), ("--markdown", md_out, to_markdown), ("--json", json_out, None))
    to_stdout = [flag for flag, path, _ in outputs if path == "-"]
    if len(to_stdout) > 1:
        raise InputError(f"{' and '.join(to_stdout)}: only one output can be '-' (standard output)")
    for flag, path, _ in outputs:
        check_output(path, flag)
    check_output(html_out, "--html")
    if plot_dir:
        make_folder(plot_dir, "--plot")
    show = progress if progress is not None else sys.stderr.isatty() and not os.environ.get("CI")
    answer = answer_whatif(request, on_progress=_bar if show else None)
    if show:
        click.echo("", err=True)
    rows = list(answer.rows)
    for flag, path, render in outputs:
        if path:
            write_atomic(path, render(answer.task, rows) if render else to_json(rows), flag)
    if plot_dir or html_out:
        from planner.answers.charts import chart_series

        charts = chart_series(answer)
        if plot_dir:
            from planner.export.plots import write_plots

            write_plots(plot_dir, charts)
        if html_out:
            from planner.export.html_pages import whatif_html

            write_atomic(html_out, whatif_html(answer, charts), "--html")
    if not to_stdout:
        click.echo(to_table(answer.task, rows))
    failed = [k for k, r in enumerate(answer.results) if r.get("status") == "error"]
    if failed and len(failed) == len(rows):  # nothing was answered: the status says so, whatever the flags
        raise InputError(f"every point of {file} failed (point 0: {answer.results[0].get('reason', '')})")
    misfits = answer.misfits
    if fail_on_misfit and misfits:
        click.echo(f"{len(misfits)} of {len(rows)} points do not fit or failed (first: point {misfits[0]})", err=True)
        ctx.exit(3)


def _bar(done: int, total: int) -> None:
    """The progress bar: one line on stderr, redrawn after each point."""
    bar = "#" * (30 * done // total)
    click.echo(f"\r[{bar:<30}] {done}/{total} points", err=True, nl=False)


@click.command("schema")
def schema():
    """Print the JSON Schema of what-if and plan files, for editors to complete and check them."""
    import json

    from planner.api import schema as json_schema

    click.echo(json.dumps(json_schema(), indent=2))

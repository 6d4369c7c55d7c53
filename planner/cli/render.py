"""Prints any answer in the asked format: the one place the CLI turns an answer into text, by
the answer's type (each format's exporter lives in ``planner.export``)."""

from __future__ import annotations

import click

_RENDERERS = {  # answer class -> (exporter module, JSON function, table function, what the JSON function takes)
    "planner.answers.estimate.Estimate": ("report", "estimate_json", "estimate_table", "profile"),
    "planner.answers.train.TrainingAnswer": ("training_report", "training_json", "training_table", "answer"),
    "planner.answers.compress.CompressionAnswer": ("compression_report", "compression_json", "compression_table", "answer"),
    "planner.placement.plan.Plan": ("plan_report", "plan_json", "plan_table", "timings"),
    "planner.answers.llamacpp.LlamaCppAnswer": ("llamacpp_report", "llamacpp_json", "llamacpp_table", "timings"),
    "planner.answers.llamacpp_size.LlamaCppSizeAnswer": ("llamacpp_report", "size_json", "size_table", "timings"),
    "planner.answers.size.ServingAnswer": ("size_report", "size_json", "size_table", "timings"),
    "planner.answers.size.ClusterAnswer": ("cluster_report", "cluster_json", "cluster_table", "answer"),
    "planner.answers.size.CapacityAnswer": ("capacity_report", "capacity_json", "capacity_table", "answer"),
    "planner.answers.size.WorkloadAnswer": ("workload_sizing", "workload_json", "workload_table", "answer"),
}
"""Looked up by the answer's class name, so printing an answer imports that exporter alone."""


def render_answer(answer, fmt: str, timings: bool = False) -> None:
    """Echo ``answer`` as text, Markdown, CSV or JSON; ``timings`` adds the wall-clock fields to JSON."""
    import importlib

    found = next((_RENDERERS[k] for k in (f"{c.__module__}.{c.__qualname__}" for c in type(answer).__mro__)
                  if k in _RENDERERS), None)
    if found is None:
        raise TypeError(f"no renderer for {type(answer).__name__}")
    exporter, json_name, table_name, takes = found
    module = importlib.import_module(f"planner.export.{exporter}")
    if fmt != "json":
        click.echo(getattr(module, table_name)(answer, fmt), nl=fmt == "text")
        return
    as_json = getattr(module, json_name)
    click.echo(as_json(answer, timings) if takes == "timings" else as_json(answer.profile if takes == "profile" else answer))

"""Prints any answer in the asked format: the one place the CLI turns an answer into text, by
the answer's type (each format's exporter lives in ``planner.export``)."""

from __future__ import annotations

import click

_RENDERERS = {  # answer class -> (exporter module, its JSON function, its table function); imported when met
    "planner.answers.estimate.Estimate": ("report", "estimate_json", "estimate_table"),
    "planner.answers.train.TrainingAnswer": ("training_report", "training_json", "training_table"),
    "planner.answers.compress.CompressionAnswer": ("compression_report", "compression_json", "compression_table"),
    "planner.placement.plan.Plan": ("plan_report", "plan_json", "plan_table"),
    "planner.answers.llamacpp.LlamaCppAnswer": ("llamacpp_report", "llamacpp_json", "llamacpp_table"),
    "planner.answers.llamacpp_size.LlamaCppSizeAnswer": ("llamacpp_report", "size_json", "size_table"),
    "planner.answers.size.ServingAnswer": ("size_report", "size_json", "size_table"),
    "planner.answers.size.ClusterAnswer": ("cluster_report", "cluster_json", "cluster_table"),
    "planner.answers.size.CapacityAnswer": ("capacity_report", "capacity_json", "capacity_table"),
    "planner.answers.size.WorkloadAnswer": ("workload_sizing", "workload_json", "workload_table"),
}
_WITH_TIMINGS = {"plan_report", "llamacpp_report", "size_report"}
"""Exporters whose JSON function takes the ``timings`` flag; the others take the answer alone
(an estimate's JSON is its profile's)."""


def _renderer(answer):
    """(json, table) functions for the answer's class or its nearest base, importing that exporter alone."""
    import importlib

    for cls in type(answer).__mro__:
        found = _RENDERERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if found is not None:
            module = importlib.import_module(f"planner.export.{found[0]}")
            as_json, as_table = getattr(module, found[1]), getattr(module, found[2])
            if found[0] in _WITH_TIMINGS:
                return as_json, as_table
            if found[0] == "report":
                return (lambda a, t, f=as_json: f(a.profile)), as_table
            return (lambda a, t, f=as_json: f(a)), as_table
    raise TypeError(f"no renderer for {type(answer).__name__}")


def render_answer(answer, fmt: str, timings: bool = False) -> None:
    """Echo ``answer`` as text, Markdown, CSV or JSON; ``timings`` adds the wall-clock fields to JSON."""
    as_json, as_table = _renderer(answer)
    click.echo(as_json(answer, timings) if fmt == "json" else as_table(answer, fmt), nl=fmt == "text")

"""Prints any answer in the asked format: the one place the CLI turns an answer into text, by
the answer's type (each format's exporter lives in ``planner.export``)."""

from __future__ import annotations

import click


def _renderers():
    from planner.answers.compress import CompressionAnswer
    from planner.answers.estimate import Estimate
    from planner.answers.llamacpp import LlamaCppAnswer
    from planner.answers.llamacpp_size import LlamaCppSizeAnswer
    from planner.answers.size import CapacityAnswer, ClusterAnswer, ServingAnswer, WorkloadAnswer
    from planner.answers.train import TrainingAnswer
    from planner.export import (
        capacity_report,
        cluster_report,
        compression_report,
        llamacpp_report,
        plan_report,
        report,
        size_report,
        training_report,
        workload_sizing,
    )
    from planner.placement.plan import Plan

    return (
        (Estimate, lambda a, t: report.estimate_json(a.profile), report.estimate_table),
        (TrainingAnswer, lambda a, t: training_report.training_json(a), training_report.training_table),
        (CompressionAnswer, lambda a, t: compression_report.compression_json(a), compression_report.compression_table),
        (Plan, plan_report.plan_json, plan_report.plan_table),
        (LlamaCppAnswer, llamacpp_report.llamacpp_json, llamacpp_report.llamacpp_table),
        (LlamaCppSizeAnswer, llamacpp_report.size_json, llamacpp_report.size_table),
        (ServingAnswer, size_report.size_json, size_report.size_table),
        (ClusterAnswer, lambda a, t: cluster_report.cluster_json(a), cluster_report.cluster_table),
        (CapacityAnswer, lambda a, t: capacity_report.capacity_json(a), capacity_report.capacity_table),
        (WorkloadAnswer, lambda a, t: workload_sizing.workload_json(a), workload_sizing.workload_table),
    )


def render_answer(answer, fmt: str, timings: bool = False) -> None:
    """Echo ``answer`` as text, Markdown, CSV or JSON; ``timings`` adds the wall-clock fields to JSON."""
    for kind, as_json, as_table in _renderers():
        if isinstance(answer, kind):
            click.echo(as_json(answer, timings) if fmt == "json" else as_table(answer, fmt), nl=fmt == "text")
            return
    raise TypeError(f"no renderer for {type(answer).__name__}")

"""Tool configs an answer carries, as files of their own (``--deepspeed-config-out``,
``--vllm-command-out``): the same objects the reports print, so a file and the report agree."""

from __future__ import annotations

import json


def deepspeed_config_text(answer) -> str | None:
    """The DeepSpeed config of a training answer's asked setup (JSON), or None for another answer."""
    from planner.answers.train import TrainingAnswer
    from planner.export.training_report import deepspeed_config

    if not isinstance(answer, TrainingAnswer):
        return None
    return json.dumps(deepspeed_config(answer.cost), indent=2) + "\n"


def vllm_command_text(answer) -> str | None:
    """A shell script that starts every replica of a serving answer's choice, or None when the answer
    has no vLLM deployment (not a serving answer, nothing fits)."""
    from planner.answers.size import ServingAnswer
    from planner.export.vllm import launch_steps

    if not isinstance(answer, ServingAnswer) or not answer.sizing.choice:
        return None
    s = answer.sizing
    lines = ["#!/bin/sh", f"# {answer.profile.spec.name}: context {s.context:,}, {s.concurrency} concurrent sequences "
             f"(planner size, objective {s.objective})"]
    for c, n in s.choice:
        unit = f"{c.gpus} x {c.gpu.name} ({c.offer.name})"
        for k in range(n):
            lines.append(f"# unit {k + 1} of {n}: {unit}, tp {c.layout.tp} x pp {c.layout.pp}")
            lines += launch_steps(answer.model, answer.profile, c, s.context)
    return "\n".join(lines) + "\n"

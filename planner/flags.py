"""How a settings field is named on the command line and in the Python API: ``--field-name``
unless listed here. The CLI generates its training and compression flags with it, the API takes
its keywords by it, and a suggested change of settings is written with it (``flags_text``)."""

from __future__ import annotations

FLAG_NAMES = {"gpus": ("--num-gpus", "num_gpus"), "micro_batch": ("--batch", "batch"), "seq_len": ("--seq-len", "seq_len")}
"""Fields whose flag (and API argument) is not ``--field-name``: ``--gpu`` names GPU types, and the
micro-batch and sequence length are the flags the modes share."""
SHARED_FIELDS = ("micro_batch", "seq_len")
"""Settings fields set by what the modes share: the workload's batch and ``seq_len``."""


def flag_of(name: str) -> tuple[str, str]:
    """(CLI flag, parameter name of the CLI and the Python API) of a settings field."""
    return FLAG_NAMES.get(name, ("--" + name.replace("_", "-"), name))


def flags_text(change) -> str:
    """A settings change ((field, value), ...) as the flags that make it: ``--zero 3``,
    ``--offload-optimizer --offload-params``, ``--batch 2 --grad-accum 8``."""
    return " ".join(flag_of(name)[0] if value is True else f"{flag_of(name)[0]} {value}" for name, value in change)


INSTEAD = {
    ("prompt_tokens", "training"): "--seq-len", ("new_tokens", "training"): "--seq-len",
    ("prompt_tokens", "compression"): "--seq-len", ("new_tokens", "compression"): "--seq-len",
    ("dtype", "training"): "--precision (bf16-mixed, bf16 or fp32)",
}
"""Workload fields another mode replaces, and what to give instead (the CLI and the API refuse them)."""

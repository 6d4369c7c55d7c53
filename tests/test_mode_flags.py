"""A flag of another --mode is refused (exit 2, one line naming the flag and the fix) instead
of being silently ignored; the same flag under its own mode is accepted."""

from __future__ import annotations

import pytest
from conftest import assert_input_error, run_cli


@pytest.mark.parametrize("args, flag, mode", [
    (["size", "Meta-Llama-3-8B", "--zero", "3"], "--zero", "training"),
    (["size", "Meta-Llama-3-8B", "--lora-rank", "8"], "--lora-rank", "training"),
    (["estimate", "Meta-Llama-3-8B", "--samples", "128"], "--samples", "compression"),
    (["estimate", "Meta-Llama-3-8B", "--mode", "training", "--algorithm", "awq"], "--algorithm", "compression"),
    (["size", "Meta-Llama-3-8B", "--mode", "training", "--context", "4096"], "--context", "inference"),
    (["size", "Meta-Llama-3-8B", "--mode", "compression", "--gpu-memory-utilization", "0.8"],
     "--gpu-memory-utilization", "inference"),
])
def test_flag_of_another_mode_is_an_error(args, flag, mode):
    assert_input_error(run_cli(*args), flag, f"--mode {mode}")


def test_flag_under_its_own_mode_is_accepted():
    r = run_cli("estimate", "Meta-Llama-3-8B", "--mode", "training", "--zero", "2", "--json")
    assert r.returncode == 0, r.stderr
    assert '"stage": 2' in r.stdout


@pytest.mark.parametrize("args, flag, instead", [
    (["estimate", "Meta-Llama-3-8B", "--mode", "training", "--dtype", "fp32"], "--dtype", "--precision"),
    (["estimate", "Meta-Llama-3-8B", "--mode", "training", "--prompt-tokens", "4096"], "--prompt-tokens", "--seq-len"),
    (["size", "Meta-Llama-3-8B", "--mode", "compression", "--new-tokens", "16"], "--new-tokens", "--seq-len"),
])
def test_flag_with_another_meaning_in_a_mode_names_the_flag_to_use(args, flag, instead):
    assert_input_error(run_cli(*args), flag, f"use {instead}")


def test_workload_flags_default_to_the_workload_models_defaults():
    """The inference flags are the fields of Workload: same names, the model's defaults, and
    choices the model accepts (so a default changed in one place cannot drift from the other)."""
    from typing import Literal, get_args, get_origin

    from planner.cli.options import WORKLOAD_OPTIONS
    from planner.workload import Workload

    for flag, field, kwargs in WORKLOAD_OPTIONS:
        info = Workload.model_fields[field]
        assert kwargs.get("default", False if kwargs.get("is_flag") else None) == info.default, flag
        choices = getattr(kwargs.get("type"), "choices", None)
        if choices and get_origin(info.annotation) is Literal:
            assert set(choices) <= set(get_args(info.annotation)), flag
        for choice in choices or ():
            Workload(**{field: choice})  # every choice offered is a value the model takes

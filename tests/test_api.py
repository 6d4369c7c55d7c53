"""The Python API equals the CLI: every command has a function in ``planner.api`` with the same
parameters and defaults (the flags that only choose how to print are the CLI's own), and both
give the same answer."""

from __future__ import annotations

import inspect
import json

import click
import pytest
from conftest import run_cli

import planner
from planner import api
from planner.cli import cli
from planner.errors import InputError

RENDER_ONLY = {"fmt", "as_json", "device_map_out", "timings", "csv_out", "json_out", "md_out", "plot_dir", "fail_on_misfit",
               "progress", "deepspeed_config_out", "vllm_command_out", "explain", "html_out"}
"""Flags that choose where and how an answer is printed, not what is asked."""
FUNCTIONS = {"estimate": api.estimate, "plan": api.plan, "size": api.size, "whatif": api.whatif, "schema": api.schema,
             "catalog gpus": api.catalog_gpus, "catalog hosts": api.catalog_hosts, "catalog models": api.catalog_models}


def _commands(group: click.Group, prefix: str = ""):
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from _commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def test_every_command_has_its_function():
    assert {name for name, _ in _commands(cli)} == set(FUNCTIONS)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_the_function_takes_the_commands_parameters_with_its_defaults(name):
    from planner.requests import settings_params

    command = dict(_commands(cli))[name]
    required = [p for p in command.get_params(click.Context(command)) if isinstance(p, click.Argument) and p.required]
    ctx = command.make_context(name, ["x"] * len(required), resilient_parsing=True)  # what the command gets untyped
    params = {p.name: p for p in command.get_params(ctx) if p.name not in RENDER_ONLY and p is not command.get_help_option(ctx)}
    signature = inspect.signature(FUNCTIONS[name]).parameters
    settings = set(settings_params("training")) | set(settings_params("compression"))
    for pname, param in params.items():
        if pname in settings and pname not in signature:  # generated from the settings models: **settings
            assert any(p.kind is p.VAR_KEYWORD for p in signature.values()), f"{name}: no **settings for --{pname}"
            continue
        assert pname in signature, f"{name}: the API has no parameter {pname}"
        default = ctx.params[pname]
        if isinstance(param, click.Argument) and param.required:
            assert signature[pname].default is inspect.Parameter.empty, f"{name}: {pname} is required in the CLI"
        else:
            assert signature[pname].default == default, f"{name}: {pname} defaults to {signature[pname].default!r}, CLI {default!r}"
    extra = [p for p in signature if p not in params and signature[p].kind is not inspect.Parameter.VAR_KEYWORD
             and p != "on_progress"]
    assert not extra, f"{name}: API parameters the CLI lacks: {extra}"


def test_gpu_names_counts_and_sizes_as_the_cli_takes_them():
    p = planner.plan("Llama-3.2-1B", ["RTX4090"])
    assert p.fits and set(p.device_map.values()) == {0}
    two = planner.plan("Meta-Llama-3-8B", gpus=["2x12GiB"], cpu="64GiB", prompt_tokens=1024)
    assert two.fits and {d.capacity_bytes for d in two.devices if d.kind == "gpu"} == {12 * 2**30}


def test_size_through_the_api_equals_the_cli():
    answer = planner.size("Llama-3.1-70B", context=8192, concurrency=8, gpu_types=["H100", "L40S"], with_accelerate=False)
    r = run_cli("size", "Llama-3.1-70B", "--context", "8192", "--concurrency", "8", "--gpu-type", "H100",
                "--gpu-type", "L40S", "--json")
    doc = json.loads(r.stdout)
    assert r.returncode == 0 and answer.fits
    assert answer.bill.purchase_usd == doc["price_usd"] and answer.bill.gpus == sum(g["count"] for g in doc["gpus"])


def test_training_settings_are_keywords_named_as_their_flags():
    answer = planner.estimate("Llama-2-7b-hf", mode="training", zero=3, num_gpus=8, gpus=["H100"])
    assert answer.cost.setup.zero == 3 and answer.cost.setup.gpus == 8
    with pytest.raises(InputError, match="zeroo: not a parameter"):
        planner.estimate("Llama-2-7b-hf", mode="training", zeroo=3)


def test_a_bad_value_names_its_flag():
    with pytest.raises(InputError, match="^gpu-memory-utilization: "):
        planner.size("Llama-3.1-70B", gpu_memory_utilization=1.5)


def test_repeatable_parameters_take_one_string_or_a_mapping():
    r = api.plan_request("Llama-2-7b-hf", gpus="RTX4090", prices={"RTX4090": 1500}, pins="lm_head=0")
    assert r.inventory.gpus == ["RTX4090"] and r.inventory.prices == {"RTX4090": 1500.0} and r.pins == {"lm_head": "0"}
    assert api.estimate_request("Llama-2-7b-hf", gpus="H100").gpus == ("H100",)
    assert api.size_request("Llama-2-7b-hf", gpu_types="H100", prices="H100=2.10/h").size.gpu_types == ["H100"]


@pytest.mark.parametrize(("call", "message"), [
    (lambda: api.estimate_request("Llama-2-7b-hf", zero=3), "^zero: applies to mode training only"),
    (lambda: api.estimate_request("Llama-2-7b-hf", mode="training", prompt_tokens=100), "^prompt-tokens: has no effect"),
    (lambda: api.estimate_request("Llama-2-7b-hf", mode="training", algorithm="awq"), "^algorithm: applies to mode compression"),
    (lambda: api.plan_request("Llama-2-7b-hf", gpus=["RTX4090"], islands=";"), "^islands: "),
    (lambda: api.whatif_request("x.yaml", jobs=0), "^jobs: "),
])
def test_the_api_refuses_what_the_cli_refuses(call, message):
    with pytest.raises(InputError, match=message):
        call()

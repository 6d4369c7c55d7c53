"""Command-line options shared by several commands. Only click is imported here, so ``--help``
stays instant; everything else is imported inside the helpers when a command runs."""

from __future__ import annotations

import click

from planner.flags import INSTEAD  # what to type instead of a flag another mode replaces

QUANT_CHOICES = ["auto", "none", "int8", "fp8", "fp8-block", "nf4", "fp4", "int4", "gptq", "awq", "mxfp4"]

# (flag, Workload field, click keyword arguments)
WORKLOAD_OPTIONS = [
    ("--dtype", "dtype", dict(default=None, help="Weights/compute dtype: fp32, bf16, fp16 [default: the checkpoint's].")),
    ("--quant", "quant", dict(type=click.Choice(QUANT_CHOICES), default="auto", show_default=True,
                                 help="Weight quantization; auto uses the checkpoint's own quantization_config.")),
    ("--group-size", "group_size", dict(type=int, default=128, show_default=True, help="Group size of int4/gptq/awq (-1: per row).")),
    ("--double-quant", "double_quant", dict(is_flag=True, help="bitsandbytes 4-bit double quantization.")),
    ("--batch", "batch", dict(type=int, default=1, show_default=True, help="Concurrent sequences.")),
    ("--prompt-tokens", "prompt_tokens", dict(type=int, default=512, show_default=True, help="Prompt length (prefill tokens).")),
    ("--new-tokens", "new_tokens", dict(type=int, default=0, show_default=True, help="Generated tokens (0: one forward pass).")),
    ("--kv-dtype", "kv_dtype", dict(default=None, help="KV cache dtype: fp32, bf16, fp16, fp8 [default: compute dtype].")),
    ("--attn", "attn_implementation", dict(type=click.Choice(["sdpa", "eager", "flash_attention_2"]), default="sdpa",
                                           show_default=True, help="Attention implementation.")),
    ("--logits", "logits", dict(type=click.Choice(["auto", "last", "all"]), default="auto", show_default=True,
                                   help="Logits of the last position (auto, last: what generate keeps) or of every "
                                        "position (all: a plain forward).")),
    ("--engine", "engine", dict(type=click.Choice(["hf", "vllm", "llamacpp"]), default="hf", show_default=True,
                                 help="Runtime: transformers, vLLM, or llama.cpp (taken for a GGUF model).")),
    ("--images", "images", dict(type=int, default=0, show_default=True, help="Images per sequence (VLMs).")),
]


def workload_options(func):
    """Add every workload flag to a command; they arrive as keyword arguments named after the
    Workload fields."""
    for flag, field, kwargs in reversed(WORKLOAD_OPTIONS):
        func = click.option(flag, field, **kwargs)(func)
    return func


def mode_options(what: str):
    """``--mode`` (saying what the command does in each) and ``--seq-len``, the flags the modes share."""
    def add(func):
        func = click.option("--seq-len", type=int, default=2048, show_default=True,
                            help="Tokens per sequence: the training sequence or each calibration sample (--mode training, "
                                 "compression).")(func)
        return click.option("--mode", type=click.Choice(["inference", "training", "compression"]), default="inference",
                            show_default=True, help=what)(func)
    return add


def format_options(f):
    """``--format text|markdown|csv|json`` and ``--json`` (the same as ``--format json``)."""
    f = click.option("--json", "as_json", is_flag=True, help="Print JSON (the same as --format json).")(f)
    return click.option("--format", "fmt", type=click.Choice(["text", "markdown", "csv", "json"]), default="text",
                        show_default=True, help="Tables for people (text, markdown), the main table as CSV, or the "
                        "whole answer as JSON.")(f)


def output_format(fmt: str, as_json: bool) -> str:
    return "json" if as_json else fmt


revision_option = click.option(
    "--revision", default=None, help="Hub branch, tag or commit when MODEL is a repo id (same as MODEL@REVISION).")


INFERENCE_ONLY = ("context", "concurrency", "target_tokens_per_s", "max_latency_ms", "gpu_memory_utilization", "have", "cluster",
                  "prompt_tokens", "new_tokens")
"""Parameters that mean something in --mode inference only. Those of training and compression
are the fields of their settings models (cli/settings.mode_param_names); shared ones, such as
--seq-len, are in neither. Typing one under another mode is an error rather than silently ignored."""


def check_mode_flags(mode: str) -> None:
    """An InputError when a flag of another --mode was typed on the command line."""
    from planner.cli.settings import MODES, mode_param_names
    from planner.errors import InputError

    ctx = click.get_current_context()
    flags = {p.name: p.opts[0] for p in ctx.command.params if isinstance(p, click.Option)}

    def typed(name: str) -> bool:
        return name in flags and ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE

    for (name, in_mode), instead in INSTEAD.items():
        if in_mode == mode and typed(name):
            flag = flags[name]
            raise InputError(f"{flag.lstrip('-')}: {flag} has no effect in --mode {mode}; use {instead}")
    own = {f.lstrip("-").replace("-", "_") for f in getattr(ctx.command, "skip", ())}  # the command's own flags
    mode_only = {"inference": INFERENCE_ONLY, **{m: tuple(n for n in mode_param_names(m) if n not in own) for m in MODES}}
    for other, names in mode_only.items():
        if other == mode:
            continue
        for name in names:
            if typed(name):
                flag = flags[name]
                raise InputError(f"{flag.lstrip('-')}: {flag} applies to --mode {other} only and this is --mode {mode}; "
                                 f"drop it, or add --mode {other}")


def config_out_options(*kinds: str):
    """``--deepspeed-config-out FILE`` and/or ``--vllm-command-out FILE``: the tool config the answer
    carries, written atomically to its own file."""
    helps = {"deepspeed": ("--deepspeed-config-out", "deepspeed_config_out",
                           "Also write the DeepSpeed config of the asked setup to this JSON file (--mode training)."),
             "vllm": ("--vllm-command-out", "vllm_command_out",
                      "Also write the vllm serve command(s) of the answer to this shell script (serving).")}

    def add(func):
        for kind in reversed(kinds):
            flag, name, text = helps[kind]
            func = click.option(flag, name, type=click.Path(dir_okay=False), default=None, help=text)(func)
        return func
    return add


def write_config_outs(result, deepspeed_config_out: str | None = None, vllm_command_out: str | None = None) -> None:
    """Write the files asked for, or fail naming the flag when the answer has no such config."""
    from planner.errors import InputError
    from planner.export.config_files import deepspeed_config_text, vllm_command_text
    from planner.files import write_atomic

    for path, flag, text in ((deepspeed_config_out, "--deepspeed-config-out", deepspeed_config_text),
                             (vllm_command_out, "--vllm-command-out", vllm_command_text)):
        if not path:
            continue
        body = text(result)
        if body is None:
            what = "a training answer (--mode training)" if "deepspeed" in flag else "a vLLM serving answer that fits"
            raise InputError(f"{flag.lstrip('-')}: only {what} has this config; drop {flag}")
        write_atomic(path, body, flag)

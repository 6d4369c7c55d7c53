"""``planner size``: which GPUs to buy or rent, how many, and the vLLM command that serves the model."""

from __future__ import annotations

import click

from planner.cli.complete import complete_gpu, complete_model
from planner.cli.options import (
    check_mode_flags,
    config_out_options,
    format_options,
    mode_options,
    output_format,
    revision_option,
    workload_options,
    write_config_outs,
)
from planner.cli.settings import settings_command
from planner.hardware.prices import DEFAULT_ELECTRICITY_USD_PER_KWH, DEFAULT_YEARS
from planner.objectives import SIZE_OBJECTIVES


@click.command("size", cls=settings_command(skip=("--gpus-per-node", "--sequential-targets", "--offload-hessians",
                                                 "--cache-on-gpu")))
@click.argument("model", shell_complete=complete_model)
@mode_options("Size for serving (vLLM), training (DeepSpeed) or one-shot compression (llm-compressor).")
@workload_options
@click.option("--context", type=int, default=None, help="max-model-len: tokens per sequence [default: prompt + new tokens].")
@click.option("--concurrency", type=int, default=None, help="Sequences served at once at full context [default: --batch].")
@click.option("--gpu-type", "--gpu", "gpu_types", multiple=True, shell_complete=complete_gpu,
              help="Candidate GPU types (repeatable; --gpu as in estimate and plan) [default: the whole catalog].")
@click.option("--price", "prices", multiple=True, help="Your price for a GPU type: H100=25000 (to buy) or H100=2.10/h (repeatable).")
@click.option("--objective", type=click.Choice(SIZE_OBJECTIVES), default="price", show_default=True,
              help="Minimise the purchase price of hosts and GPUs, the hourly price of instances, the GPU count, or the "
              "total cost of ownership (purchase + power over --years).")
@click.option("--electricity", "electricity_usd_per_kwh", type=float, default=DEFAULT_ELECTRICITY_USD_PER_KWH, show_default=True,
              help="Electricity price in USD per kWh (default: the US commercial average of 2024, EIA).")
@click.option("--years", type=float, default=DEFAULT_YEARS, show_default=True, help="Horizon of the total cost (--objective tco).")
@click.option("--pue", type=float, default=1.0, show_default=True,
              help="Power usage effectiveness of the site: facility power over IT power (cooling on top).")
@click.option("--max-power", default=None, help="Most power the answer may draw at load, e.g. 3000 (W) or 12kW.")
@click.option("--max-hosts", type=int, default=None, help="Most hosts (or instances) in the answer.")
@click.option("--max-rack-units", type=int, default=None, help="Most rack units the hosts may take.")
@click.option("--buy-more", is_flag=True, help="With --have: size what to add to the GPUs you have (they cost nothing).")
@click.option("--target-tokens-per-s", type=float, default=None, help="Also reach this roofline decode throughput.")
@click.option("--max-latency-ms", type=float, default=None, help="Longest roofline time between two tokens of a sequence.")
@click.option("--gpus-per-node", type=int, default=8, show_default=True, help="GPUs per machine (tensor parallel stays inside).")
@click.option("--max-gpus", type=int, default=64, show_default=True, help="Most GPUs in the answer.")
@click.option("--gpu-memory-utilization", "gpu_memory_utilization", type=float, default=0.9, show_default=True, help="vLLM's share of each GPU.")
@click.option("--time-limit", type=float, default=1.0, show_default=True, help="Solver time limit in seconds.")
@click.option("--have", default=None, shell_complete=complete_gpu, help="GPUs you already have, e.g. 8xH100: print the longest context, the most "
              "sequences and the precisions they serve instead of sizing a purchase.")
@click.option("--cluster", "cluster", type=click.Path(dir_okay=False), default=None,
              help="YAML of machines you have (network, GPUs per machine): the best vLLM pipeline over them.")
@click.option("--timings", is_flag=True, help="Add the solver's wall-clock seconds to the JSON (left out by default).")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write a self-contained HTML report (sortable "
              "tables; works offline) to this file.")
@config_out_options("deepspeed", "vllm")
@format_options
@revision_option
@click.pass_context
def size(ctx, timings, html_out, fmt, as_json, deepspeed_config_out, vllm_command_out, **params):
    """The cheapest GPUs (or fewest) that serve MODEL with vLLM at a context and concurrency, proven, with runner-ups."""
    from planner.answers.answer import answer_size, exit_status
    from planner.api import size_request
    from planner.cli.render import render_answer
    from planner.files import check_output

    check_mode_flags(params["mode"])
    check_output(deepspeed_config_out, "--deepspeed-config-out")
    check_output(vllm_command_out, "--vllm-command-out")
    check_output(html_out, "--html")
    fmt = output_format(fmt, as_json)
    result = answer_size(size_request(**params, with_accelerate=fmt == "json"))  # only the JSON carries accelerate's maps
    write_config_outs(result, deepspeed_config_out, vllm_command_out)
    if html_out:
        from planner.answers.llamacpp_size import LlamaCppSizeAnswer
        from planner.answers.size import ServingAnswer
        from planner.errors import InputError
        from planner.export.html_pages import size_html
        from planner.files import write_atomic

        if not isinstance(result, ServingAnswer | LlamaCppSizeAnswer):
            raise InputError("html: the HTML report covers serving answers (size without --mode, --have or --cluster)")
        write_atomic(html_out, size_html(result), "--html")
    render_answer(result, fmt, timings)
    ctx.exit(exit_status(result))

"""``planner size``: which GPUs to buy or rent, how many, and the vLLM command that serves the model."""

from __future__ import annotations

import click

from planner.cli.options import (
    check_mode_flags,
    check_range,
    format_options,
    make_workload,
    output_format,
    revision_option,
    workload_fields,
    workload_options,
)
from planner.cli.settings import settings_command, settings_from_flags
from planner.errors import InputError
from planner.hardware.prices import DEFAULT_ELECTRICITY_USD_PER_KWH, DEFAULT_YEARS


@click.command("size", cls=settings_command(skip=("--gpus-per-node", "--sequential-targets", "--offload-hessians",
                                                 "--cache-on-gpu")))
@click.argument("model")
@click.option("--mode", type=click.Choice(["inference", "training", "compression"]), default="inference", show_default=True,
              help="Size for serving (vLLM), training (DeepSpeed) or one-shot compression (llm-compressor).")
@workload_options
@click.option("--seq-len", type=int, default=2048, show_default=True,
              help="Tokens per sequence: the training sequence or each calibration sample (--mode training, compression).")
@click.option("--context", type=int, default=None, help="max-model-len: tokens per sequence [default: prompt + new tokens].")
@click.option("--concurrency", type=int, default=None, help="Sequences served at once at full context [default: --batch].")
@click.option("--gpu-type", "--gpu", "gpu_types", multiple=True,
              help="Candidate GPU types (repeatable; --gpu as in estimate and plan) [default: the whole catalog].")
@click.option("--price", "prices", multiple=True, help="Your price for a GPU type: H100=25000 (to buy) or H100=2.10/h (repeatable).")
@click.option("--objective", type=click.Choice(["price", "hourly", "gpus", "tco"]), default="price", show_default=True,
              help="Minimise the purchase price of hosts and GPUs, the hourly price of instances, the GPU count, or the "
              "total cost of ownership (purchase + power over --years).")
@click.option("--electricity", "usd_per_kwh", type=float, default=DEFAULT_ELECTRICITY_USD_PER_KWH, show_default=True,
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
@click.option("--gpu-memory-utilization", "utilization", type=float, default=0.9, show_default=True, help="vLLM's share of each GPU.")
@click.option("--time-limit", type=float, default=1.0, show_default=True, help="Solver time limit in seconds.")
@click.option("--have", default=None, help="GPUs you already have, e.g. 8xH100: print the longest context, the most "
              "sequences and the precisions they serve instead of sizing a purchase.")
@click.option("--cluster", "cluster_file", type=click.Path(dir_okay=False), default=None,
              help="YAML of machines you have (network, GPUs per machine): the best vLLM pipeline over them.")
@format_options
@revision_option
@click.pass_context
def size(ctx, model, mode, seq_len, context, concurrency, gpu_types, prices, objective, usd_per_kwh, years, pue, max_power,
         max_hosts, max_rack_units, buy_more, target_tokens_per_s, max_latency_ms, gpus_per_node, max_gpus, utilization,
         time_limit, have, cluster_file, fmt, as_json, revision, **kwargs):
    """The cheapest GPUs (or fewest) that serve MODEL with vLLM at a context and concurrency, proven, with runner-ups."""
    from planner.answers import size as commands
    from planner.answers.inputs import candidate_types, model_spec
    from planner.costs.profile import profile
    from planner.workload import MAX_BATCH, MAX_TOKENS

    check_mode_flags(mode)
    fmt = output_format(fmt, as_json)
    fields = workload_fields(kwargs)
    fields["engine"] = "vllm"
    w = make_workload(**fields)
    for name, value, low, high, low_open in (
            ("context", context, 1, MAX_TOKENS, False), ("concurrency", concurrency, 1, MAX_BATCH, False),
            ("gpus-per-node", gpus_per_node, 1, 1024, False), ("max-gpus", max_gpus, 1, 1_000_000, False),
            ("gpu-memory-utilization", utilization, 0, 1, True), ("target-tokens-per-s", target_tokens_per_s, 0, 1e12, True),
            ("max-latency-ms", max_latency_ms, 0, 1e9, True), ("electricity", usd_per_kwh, 0, 100, False),
            ("years", years, 0, 100, True), ("pue", pue, 1, 5, False), ("max-hosts", max_hosts, 1, 1_000_000, False),
            ("max-rack-units", max_rack_units, 1, 1_000_000, False)):
        check_range(name, value, low, high, low_open)
    spec = model_spec(model, revision)
    w, context, concurrency = commands.serving_request(spec, w, context, concurrency)
    if mode != "inference":
        from planner.export.workload_sizing import workload_json, workload_table

        prof = profile(spec, w.model_copy(update={"engine": "hf", "mode": mode}))
        if mode == "training":
            setup = settings_from_flags("training", kwargs | {"gpus_per_node": gpus_per_node}, micro_batch=w.batch,
                                        seq_len=seq_len)
        else:
            setup = settings_from_flags("compression", kwargs, seq_len=seq_len)
        from planner.hardware.prices import Energy

        answer = commands.size_workload(mode, model, prof, setup, candidate_types(gpu_types, prices), objective,
                                        Energy(usd_per_kwh, years, pue))
        _echo(workload_json(answer) if fmt == "json" else workload_table(answer, fmt), fmt)
        if not answer.fits:
            ctx.exit(3)
        return
    if cluster_file:
        from planner.export.cluster_report import cluster_json, cluster_table
        from planner.hardware.topology import load_cluster

        answer = commands.size_cluster(model, profile(spec, w), load_cluster(cluster_file), context, concurrency, utilization)
        _echo(cluster_json(answer) if fmt == "json" else cluster_table(answer, fmt), fmt)
        if not answer.fits:
            ctx.exit(3)
        return
    if buy_more and not have:
        raise InputError("buy-more: give the GPUs you have with --have, e.g. --have 4xRTX-4090 --buy-more")
    if have and not buy_more:
        from planner.export.capacity_report import capacity_json, capacity_table, have_gpus
        from planner.model.context_limit import check_context

        check_context(spec, context)
        gpu, count = have_gpus(have)
        answer = commands.serve_capacity(spec, w, gpu, count, context, concurrency, gpus_per_node, utilization)
        _echo(capacity_json(answer) if fmt == "json" else capacity_table(answer, fmt), fmt)
        if not answer.fits:  # no precision serves even one sequence
            ctx.exit(3)
        return
    from planner.export.size_report import size_json, size_table
    from planner.hardware.prices import Energy
    from planner.sizing.fleet import Limits

    types = candidate_types(gpu_types, prices)
    energy = Energy(usd_per_kwh, years, pue)
    limits = Limits(max_hosts, parse_watts(max_power, "max-power") if max_power else None, max_rack_units,
                    owned_gpus(have, types) if buy_more else {})
    answer = commands.size_serving(model, profile(spec, w), types, context, concurrency, objective, target_tokens_per_s,
                                   gpus_per_node, max_gpus, utilization, time_limit, max_latency_ms,
                                   with_accelerate=fmt == "json",  # only the JSON carries the accelerate maps
                                   energy=energy, limits=limits)
    _echo(size_json(answer) if fmt == "json" else size_table(answer, fmt), fmt)
    if not answer.fits:
        ctx.exit(3)


def parse_watts(text: str, field: str) -> float:
    """``3000``, ``3000W``, ``12kW`` or ``1.2MW`` as watts."""
    raw = str(text).strip().lower().replace(" ", "")
    scale = 1.0
    for suffix, factor in (("mw", 1e6), ("kw", 1e3), ("w", 1.0)):
        if raw.endswith(suffix):
            raw, scale = raw[: -len(suffix)], factor
            break
    try:
        value = float(raw) * scale
    except ValueError:
        raise InputError(f"{field}: cannot read {text!r} as a power; write e.g. 3000 (W) or 12kW") from None
    if not 0 < value < 1e12:  # also refuses nan and inf
        raise InputError(f"{field}: must be a power above 0 W and below 1e12 W, got {text!r}; write e.g. 3000 or 12kW")
    return value


def owned_gpus(have: str, types) -> dict[str, int]:
    """--have with --buy-more: {catalog type: count}; the type joins the candidates if it was left out."""
    from planner.export.capacity_report import have_gpus

    gpu, count = have_gpus(have)
    if all(t.name != gpu.name for t in types):
        types.append(gpu)
    return {gpu.name: count}


def _echo(text: str, fmt: str) -> None:
    click.echo(text, nl=fmt == "text")

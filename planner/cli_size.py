"""``planner size``: which GPUs to buy or rent, how many, and the vLLM command that serves the model."""

from __future__ import annotations

import click

from planner.cli_options import (
    check_mode_flags,
    check_range,
    format_options,
    make_workload,
    output_format,
    revision_option,
    workload_fields,
    workload_options,
)
from planner.cli_settings import settings_command, settings_from_flags


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
@click.option("--objective", type=click.Choice(["price", "hourly", "gpus"]), default="price", show_default=True,
              help="Minimise purchase price, hourly rental price, or GPU count.")
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
def size(ctx, model, mode, seq_len, context, concurrency, gpu_types, prices, objective, target_tokens_per_s, max_latency_ms,
         gpus_per_node, max_gpus, utilization, time_limit, have, cluster_file, fmt, as_json, revision, **kwargs):
    """The cheapest GPUs (or fewest) that serve MODEL with vLLM at a context and concurrency, proven, with runner-ups."""
    from planner.commands import size as commands
    from planner.commands.inputs import candidate_types, model_spec
    from planner.costs.profile import profile
    from planner.workload import MAX_BATCH, MAX_TOKENS

    check_mode_flags(mode)
    fmt = output_format(fmt, as_json)
    fields = workload_fields(kwargs)
    fields["engine"] = "vllm"
    w = make_workload(**fields)
    context = context if context is not None else w.total_tokens
    concurrency = concurrency if concurrency is not None else w.batch
    for name, value, low, high, low_open in (
            ("context", context, 1, MAX_TOKENS, False), ("concurrency", concurrency, 1, MAX_BATCH, False),
            ("gpus-per-node", gpus_per_node, 1, 1024, False), ("max-gpus", max_gpus, 1, 1_000_000, False),
            ("gpu-memory-utilization", utilization, 0, 1, True), ("target-tokens-per-s", target_tokens_per_s, 0, 1e12, True),
            ("max-latency-ms", max_latency_ms, 0, 1e9, True)):
        check_range(name, value, low, high, low_open)
    shape = {"batch": concurrency} if context == w.total_tokens else {"batch": concurrency, "prompt_tokens": context, "new_tokens": 0}
    w = make_workload(w, **shape)
    spec = model_spec(model, revision)
    if mode != "inference":
        from planner.export.workload_sizing import workload_json, workload_table

        prof = profile(spec, w.model_copy(update={"engine": "hf", "mode": mode}))
        if mode == "training":
            setup = settings_from_flags("training", kwargs | {"gpus_per_node": gpus_per_node}, micro_batch=w.batch,
                                        seq_len=seq_len)
        else:
            setup = settings_from_flags("compression", kwargs, seq_len=seq_len)
        answer = commands.size_workload(mode, model, prof, setup, candidate_types(gpu_types, prices), objective)
        _echo(workload_json(answer) if fmt == "json" else workload_table(answer, fmt), fmt)
        if answer.best is None:
            ctx.exit(3)
        return
    if cluster_file:
        from planner.export.cluster_report import cluster_json, cluster_table
        from planner.hardware.topology import load_cluster

        answer = commands.size_cluster(model, profile(spec, w), load_cluster(cluster_file), context, concurrency, utilization)
        _echo(cluster_json(answer) if fmt == "json" else cluster_table(answer, fmt), fmt)
        if not answer.plans:
            ctx.exit(3)
        return
    if have:
        from planner.costs.vllm import check_context
        from planner.export.capacity_report import capacity_json, capacity_table, have_gpus

        check_context(spec, context)
        gpu, count = have_gpus(have)
        answer = commands.serve_capacity(spec, w, gpu, count, context, concurrency, gpus_per_node, utilization)
        _echo(capacity_json(answer) if fmt == "json" else capacity_table(answer, fmt), fmt)
        if not answer.serves:  # no precision serves even one sequence: does not fit
            ctx.exit(3)
        return
    from planner.export.size_report import size_json, size_table

    types = candidate_types(gpu_types, prices)
    answer = commands.size_serving(model, profile(spec, w), types, context, concurrency, objective, target_tokens_per_s,
                                   gpus_per_node, max_gpus, utilization, time_limit, max_latency_ms,
                                   with_accelerate=fmt == "json")  # only the JSON carries the accelerate maps
    _echo(size_json(answer) if fmt == "json" else size_table(answer, fmt), fmt)
    if answer.sizing.status not in ("optimal", "feasible"):
        ctx.exit(3)


def _echo(text: str, fmt: str) -> None:
    click.echo(text, nl=fmt == "text")

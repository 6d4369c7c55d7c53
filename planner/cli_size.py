"""``planner size``: which GPUs to buy or rent, how many, and the vLLM command that serves the model."""

from __future__ import annotations

import click

from planner.cli_options import (
    check_mode_flags,
    check_range,
    make_workload,
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
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@revision_option
@click.pass_context
def size(ctx, model, mode, seq_len, context, concurrency, gpu_types, prices, objective, target_tokens_per_s, max_latency_ms, gpus_per_node, max_gpus, utilization,
         time_limit, have, cluster_file, as_json, revision, **kwargs):
    """The cheapest GPUs (or fewest) that serve MODEL with vLLM at a context and concurrency, proven, with runner-ups."""
    from planner.catalog import find_gpu
    from planner.catalog import gpu_types as catalog_types
    from planner.costs.profile import profile
    from planner.export.size_report import size_json, size_table
    from planner.solve.sizing import size as run_size
    from planner.spec.load import load_model
    from planner.workload import MAX_BATCH, MAX_TOKENS

    check_mode_flags(mode)
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
    spec = load_model(model, revision)
    if mode != "inference":
        from planner.export import workload_sizing as ws
        from planner.hardware.prices import parse_prices, priced

        own = parse_prices(prices)
        types = [priced(g, own) for g in ([find_gpu(g) for g in gpu_types] if gpu_types else list(catalog_types()))]
        prof = profile(spec, w.model_copy(update={"engine": "hf", "mode": mode}))
        if mode == "training":
            setup = settings_from_flags("training", kwargs | {"gpus_per_node": gpus_per_node}, micro_batch=w.batch,
                                        seq_len=seq_len)
            rows = ws.training_rows(prof, setup, types)
        else:
            rows = ws.compression_rows(model, prof, settings_from_flags("compression", kwargs, seq_len=seq_len), types)
        doc = ws.answer(rows, objective)
        click.echo(ws.to_json(doc) if as_json else ws.to_table(mode, doc), nl=not as_json)
        if doc["status"] != "optimal":
            ctx.exit(3)
        return
    from planner.costs.vllm import check_context

    check_context(spec, context)
    if cluster_file:
        from planner.costs.vllm import TP_SIZES
        from planner.export.cluster_report import cluster_json, cluster_table
        from planner.hardware.topology import load_cluster
        from planner.solve.pipeline import best_pipeline

        cluster = load_cluster(cluster_file)
        prof = profile(spec, w)
        plans = [p for tp in TP_SIZES for p in [best_pipeline(prof, cluster, tp, utilization)] if p is not None]
        args = (model, prof, cluster, plans, context, concurrency, utilization)
        click.echo(cluster_json(*args) if as_json else cluster_table(*args), nl=not as_json)
        if not plans:
            ctx.exit(3)
        return
    if have:
        from planner.export.capacity_report import capacity_json, capacity_table, have_gpus, precisions

        gpu, count = have_gpus(have)
        rows = [c for c in precisions(spec, w, gpu, count, context, concurrency, gpus_per_node, utilization)]
        click.echo(capacity_json(rows, gpu, count, context, concurrency) if as_json else
                   capacity_table(rows, gpu, count, context, concurrency), nl=not as_json)
        if not any(r.longest or r.most for r in rows):  # no precision serves even one sequence: does not fit
            ctx.exit(3)
        return
    from planner.hardware.prices import parse_prices, priced

    own = parse_prices(prices)
    types = [priced(g, own) for g in ([find_gpu(g) for g in gpu_types] if gpu_types else list(catalog_types()))]
    prof = profile(spec, w)
    answer = run_size(prof, types, context, concurrency, objective, target_tokens_per_s, gpus_per_node, max_gpus,
                      utilization, time_limit, max_latency_ms)
    click.echo(size_json(model, prof, answer, gpus_per_node) if as_json else size_table(model, prof, answer, gpus_per_node),
               nl=not as_json)
    if answer.status not in ("optimal", "feasible"):
        ctx.exit(3)

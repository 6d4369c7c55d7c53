"""Run every point of a what-if file, in parallel across processes; one row of results each.
A point that fails (no fit, a solver error, an unexpected exception) is reported in its row and
never stops the sweep."""

from __future__ import annotations

import os
import sys
from functools import lru_cache

from planner.errors import InfeasibleError, PlannerError
from planner.whatif.schema import Point, WhatIf


@lru_cache(maxsize=64)
def _spec(model: str):
    from planner.spec.load import load_model

    return load_model(model)


def _inventory(sc: WhatIf):
    from planner.hardware.inventory import build_inventory
    from planner.hardware.prices import parse_prices

    inv = sc.inventory
    return build_inventory(inv.gpus, inv.cpu, inv.disk, inv.max_memory, inv.reserve, inv.disk_gb_per_s,
                           prices=parse_prices(inv.prices))


def preflight(sc: WhatIf) -> None:
    """Errors a user must fix before anything runs: unknown model, GPU, bad sizes."""
    from planner.catalog import find_gpu

    _spec(sc.model)
    if sc.task == "plan":
        _inventory(sc)
    if sc.task == "size":
        from planner.hardware.prices import parse_prices

        for name in sc.size.gpu_types:
            find_gpu(name)
        parse_prices(sc.size.prices)
        if sc.size.cluster:
            from planner.hardware.topology import load_cluster

            load_cluster(sc.size.cluster)


def _plan_row(sc: WhatIf, prof) -> dict:
    from planner.placement import make_plan
    from planner.solve.solver import least_shortfall

    plan = make_plan(prof, _inventory(sc), sc.objective, sc.pins, sc.weights_only, sc.time_limit_s, sc.offload_folder,
                     diagnose=False)
    if plan.assignment is None:
        short, _ = least_shortfall(plan.problem, 0.5)
        reason = (f"{short / 2**30:.2f} GiB short with units kept whole" if short else
                  "no placement found" if short == 0 else "does not fit (shortfall not proven in time)")
        return {"status": plan.status, "fits": False, "reason": reason}
    gpus = [d for d in plan.devices if d.kind == "gpu" and d.load.total_bytes]
    devs = plan.problem.devices
    return {
        "status": plan.status, "fits": True, "gpus_used": len(gpus),
        "price_usd": sum(devs[k].price_usd or 0 for k, d in enumerate(plan.devices) if d in gpus) or None,
        "price_usd_per_hour": round(sum(devs[k].price_usd_per_hour or 0 for k, d in enumerate(plan.devices) if d in gpus), 4) or None,
        "weights_bytes": sum(d.load.weights_bytes for d in plan.devices),
        "kv_bytes": sum(d.load.kv_bytes for d in plan.devices),
        "activation_bytes": max((d.load.activation_bytes for d in plan.devices), default=0),
        "reserve_bytes": sum(d.load.reserve_bytes for d in plan.devices),
        "offload_bytes": plan.offload_bytes,
        "headroom_bytes": min((d.free_bytes for d in gpus), default=None),
    }


def _size_row(sc: WhatIf, prof) -> dict:
    from planner.catalog import find_gpu, gpu_types
    from planner.costs.vllm import check_context
    from planner.hardware.prices import parse_prices, priced, total_price
    from planner.solve.sizing import size

    s = sc.size
    check_context(prof.spec, s.context or prof.workload.total_tokens)
    if s.cluster:
        return _cluster_row(sc, prof)
    prices = parse_prices(s.prices)
    types = [priced(g, prices) for g in ([find_gpu(g) for g in s.gpu_types] or list(gpu_types()))]
    context = s.context or prof.workload.total_tokens
    answer = size(prof, types, context, s.concurrency or prof.workload.batch, s.objective, s.target_tokens_per_s,
                  s.gpus_per_node, s.max_gpus, s.gpu_memory_utilization, sc.time_limit_s)
    if not answer.choice:
        return {"status": answer.status, "fits": False, "reason": "no GPU type holds one full-context sequence"}
    return {
        "status": answer.status, "fits": True, "gpus_used": sum(c.gpus * n for c, n in answer.choice),
        "layout": " + ".join(f"{n} x {c.gpu.name} tp{c.layout.tp} pp{c.layout.pp}" for c, n in answer.choice),
        "price_usd": total_price((c.gpu, c.gpus * n) for c, n in answer.choice)[0],
        "price_usd_per_hour": total_price((c.gpu, c.gpus * n) for c, n in answer.choice)[1],
        "weights_bytes": prof.weights_bytes, "kv_tokens": min(c.layout.kv_tokens for c, _ in answer.choice),
        "tokens_per_s": round(sum(c.speed.decode_tokens_per_s * n for c, n in answer.choice), 1),
    }


def _cluster_row(sc: WhatIf, prof) -> dict:
    from planner.costs.vllm import TP_SIZES
    from planner.hardware.topology import load_cluster
    from planner.solve.pipeline import best_pipeline

    s = sc.size
    cluster = load_cluster(s.cluster)
    plans = [p for tp in TP_SIZES for p in [best_pipeline(prof, cluster, tp, s.gpu_memory_utilization)] if p is not None]
    if not plans:
        return {"status": "infeasible", "fits": False, "reason": "no pipeline holds the model on these machines"}
    best = max(plans, key=lambda p: (p.kv_tokens, -p.gpus))
    context = s.context or prof.workload.total_tokens
    need = context * (s.concurrency or prof.workload.batch)
    return {
        "status": "optimal" if best.kv_tokens >= need else "infeasible", "fits": best.kv_tokens >= need, "gpus_used": best.gpus,
        "layout": f"tp{best.tp} pp{len(best.stages)} partition {','.join(map(str, best.partition))}",
        "weights_bytes": prof.weights_bytes, "kv_tokens": best.kv_tokens,
        "reason": None if best.kv_tokens >= need else f"KV cache holds {best.kv_tokens:,} tokens, {need:,} needed",
    }


def _training_row(sc: WhatIf, prof) -> dict:
    from dataclasses import replace

    from planner.costs.overhead import usable_bytes
    from planner.costs.training import training_cost

    setup = replace(sc.training, micro_batch=prof.workload.batch)
    cost = training_cost(prof, setup)
    row = {"status": "ok", "weights_bytes": cost.total("weights_bytes"), "gradients_bytes": cost.total("gradients_bytes"),
           "optimizer_bytes": cost.total("optimizer_bytes"), "activation_bytes": cost.total("activation_bytes"),
           "peak_bytes": cost.gpu_peak_bytes, "fits": None}
    gpus = _inventory(sc).gpus if (sc.inventory.gpus or sc.inventory.max_memory) else ()
    if gpus:
        from planner.catalog import find_gpu

        room = usable_bytes(find_gpu(gpus[0].gpu_type)) if gpus[0].gpu_type else gpus[0].usable_bytes
        row["fits"] = cost.gpu_peak_bytes <= room
        row["headroom_bytes"] = room - cost.gpu_peak_bytes
        if not row["fits"]:
            row["reason"] = f"needs {cost.gpu_peak_bytes / 2**30:.2f} GiB per GPU, {room / 2**30:.2f} GiB usable"
    return row


def evaluate(point: Point) -> dict:
    from planner.costs.profile import profile

    sc = point.scenario
    try:
        prof = profile(_spec(sc.model), sc.workload)
        if sc.task == "estimate":
            result = {"status": "ok", "fits": None, "weights_bytes": prof.weights_bytes, "kv_bytes": prof.kv_bytes,
                      "activation_bytes": prof.activation_peak_bytes, "total_bytes": prof.total_bytes}
        elif sc.task == "size":
            result = _size_row(sc, prof)
        elif sc.task == "training":
            result = _training_row(sc, prof)
        else:
            if sc.workload.mode != "inference":
                raise PlannerError(f"workload.mode {sc.workload.mode}: task plan places inference; use task {sc.workload.mode}"
                                   if sc.workload.mode == "training" else "task plan places inference")
            result = _plan_row(sc, prof)
    except InfeasibleError as e:  # a valid point that cannot be met
        result = {"status": "infeasible", "fits": False, "reason": str(e)}
    except PlannerError as e:
        result = {"status": "error", "fits": False, "reason": str(e)}
    except Exception as e:  # a bug in one point must not lose the others
        result = {"status": "error", "fits": False, "reason": f"internal error: {type(e).__name__}: {e}"}
    return {"point": point.index, "axes": point.axes, "results": result}


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _show_progress() -> bool:
    return sys.stderr.isatty() and not os.environ.get("CI")


def run(points: list[Point], jobs: int | None = None, progress: bool | None = None) -> list[dict]:
    jobs = jobs or min(os.cpu_count() or 1, 8)
    show = _show_progress() if progress is None else progress
    rows: list[dict] = []

    def tick() -> None:
        if show:
            done = len(rows)
            bar = "#" * (30 * done // len(points))
            sys.stderr.write(f"\r[{bar:<30}] {done}/{len(points)} points")
            sys.stderr.flush()

    if jobs == 1 or len(points) < 4:
        for p in points:
            rows.append(evaluate(p))
            tick()
    else:
        import multiprocessing

        # Workers ignore SIGINT: Ctrl-C reaches the parent, which stops them all at once.
        pool = multiprocessing.get_context().Pool(jobs, initializer=_ignore_sigint)
        try:
            for row in pool.imap(evaluate, points, chunksize=max(1, len(points) // (jobs * 16))):
                rows.append(row)
                tick()
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
    if show:
        sys.stderr.write("\n")
    return rows

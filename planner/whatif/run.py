"""Run every point of a what-if file, in parallel across processes; one row of results each.
A point that fails (no fit, a solver error, an unexpected exception) is reported in its row and
never stops the sweep."""

from __future__ import annotations

import os
import sys

from planner.errors import InfeasibleError, PlannerError
from planner.whatif.schema import Point, WhatIf


def preflight(sc: WhatIf) -> None:
    """Errors a user must fix before anything runs: unknown model, GPU, bad sizes."""
    from planner.answers.inputs import candidate_types, inventory_of, model_spec

    model_spec(sc.model, cache=True)
    if sc.task == "plan":
        inventory_of(sc.inventory)
    if sc.task == "size":
        candidate_types(sc.size.gpu_types, sc.size.prices)
        if sc.size.cluster:
            from planner.hardware.topology import load_cluster

            load_cluster(sc.size.cluster)


def _plan_row(sc: WhatIf) -> dict:
    from planner.answers.plan import plan_scenario, shortfall_reason

    plan = plan_scenario(sc, diagnose=False)
    if plan.assignment is None:
        return {"status": plan.status, "fits": plan.fits, "reason": shortfall_reason(plan)}
    used = [(d, dev) for d, dev in zip(plan.devices, plan.problem.devices, strict=True) if d.kind == "gpu" and d.load.total_bytes]
    return {
        "status": plan.status, "fits": plan.fits, "gpus_used": len(used),
        "price_usd": sum(dev.price_usd or 0 for _, dev in used) or None,
        "price_usd_per_hour": round(sum(dev.price_usd_per_hour or 0 for _, dev in used), 4) or None,
        "weights_bytes": sum(d.load.weights_bytes for d in plan.devices),
        "kv_bytes": sum(d.load.kv_bytes for d in plan.devices),
        "activation_bytes": max((d.load.activation_bytes for d in plan.devices), default=0),
        "reserve_bytes": sum(d.load.reserve_bytes for d in plan.devices),
        "offload_bytes": plan.offload_bytes,
        "headroom_bytes": min((d.free_bytes for d, _ in used), default=None),
    }


def _size_row(sc: WhatIf, prof, context: int, concurrency: int) -> dict:
    from planner.answers.inputs import candidate_types
    from planner.answers.size import size_serving
    from planner.hardware.prices import Energy
    from planner.sizing.fleet import Limits

    s = sc.size
    if s.cluster:
        return _cluster_row(sc, prof, context, concurrency)
    answer = size_serving(sc.model, prof, candidate_types(s.gpu_types, s.prices), context, concurrency, s.objective,
                          s.target_tokens_per_s, s.gpus_per_node, s.max_gpus, s.gpu_memory_utilization, sc.time_limit_s,
                          with_accelerate=False, compare_rental=False,
                          energy=Energy(s.electricity_usd_per_kwh, s.years, s.pue),
                          limits=Limits(s.max_hosts, s.max_power_w, s.max_rack_units))
    sizing, bill = answer.sizing, answer.bill
    if not answer.fits:
        return {"status": sizing.status, "fits": answer.fits, "reason": answer.reason}
    return {
        "status": sizing.status, "fits": answer.fits, "gpus_used": bill.gpus,
        "layout": " + ".join(f"{n * c.hosts} x {c.offer.name} {c.gpu.name} tp{c.layout.tp} pp{c.layout.pp}"
                             for c, n in sizing.choice),
        "price_usd": bill.purchase_usd if sizing.objective != "hourly" else None,
        "price_usd_per_hour": bill.usd_per_hour if sizing.objective == "hourly" else None,
        "weights_bytes": prof.weights_bytes, "kv_tokens": min(c.layout.kv_tokens for c, _ in sizing.choice),
        "tokens_per_s": round(bill.tokens_per_s, 1),
    }


def _cluster_row(sc: WhatIf, prof, context: int, concurrency: int) -> dict:
    from planner.answers.size import size_cluster
    from planner.hardware.topology import load_cluster

    answer = size_cluster(sc.model, prof, load_cluster(sc.size.cluster), context, concurrency, sc.size.gpu_memory_utilization)
    best = answer.best
    if best is None:
        return {"status": answer.status, "fits": False, "reason": answer.reason}
    return {
        "status": answer.status, "fits": answer.fits, "gpus_used": best.gpus,
        "layout": f"tp{best.tp} pp{len(best.stages)} partition {','.join(map(str, best.partition))}",
        "weights_bytes": prof.weights_bytes, "kv_tokens": best.kv_tokens, "reason": answer.reason,
    }


def _training_row(sc: WhatIf, prof) -> dict:
    from dataclasses import replace

    from planner.answers.inputs import inventory_of
    from planner.costs.overhead import usable_bytes
    from planner.costs.training import training_cost
    from planner.export.table import gib

    cost = training_cost(prof, replace(sc.training, micro_batch=prof.workload.batch))
    row = {"status": "ok", "weights_bytes": cost.total("weights_bytes"), "gradients_bytes": cost.total("gradients_bytes"),
           "optimizer_bytes": cost.total("optimizer_bytes"), "activation_bytes": cost.total("activation_bytes"),
           "peak_bytes": cost.gpu_peak_bytes, "fits": None}
    gpus = inventory_of(sc.inventory).gpus if (sc.inventory.gpus or sc.inventory.max_memory) else ()
    if gpus:
        from planner.catalog import find_gpu

        room = usable_bytes(find_gpu(gpus[0].gpu_type)) if gpus[0].gpu_type else gpus[0].usable_bytes
        row["fits"] = cost.gpu_peak_bytes <= room
        row["headroom_bytes"] = room - cost.gpu_peak_bytes
        if not row["fits"]:
            row["reason"] = f"needs {gib(cost.gpu_peak_bytes)} per GPU, {gib(room)} usable"
    return row


def _estimate_row(prof) -> dict:
    return {"status": "ok", "fits": None, "weights_bytes": prof.weights_bytes, "kv_bytes": prof.kv_bytes,
            "activation_bytes": prof.activation_peak_bytes, "total_bytes": prof.total_bytes}


def _result(sc: WhatIf) -> dict:
    from planner.answers.inputs import model_spec
    from planner.costs.profile import profile

    if sc.task == "plan":
        if sc.workload.mode != "inference":
            raise PlannerError(f"workload.mode {sc.workload.mode}: task plan places inference; use task {sc.workload.mode}"
                               if sc.workload.mode == "training" else "task plan places inference")
        return _plan_row(sc)
    spec = model_spec(sc.model, cache=True)
    if sc.task == "size":
        from planner.answers.size import serving_request

        w, context, concurrency = serving_request(spec, sc.workload, sc.size.context, sc.size.concurrency)
        return _size_row(sc, profile(spec, w), context, concurrency)
    prof = profile(spec, sc.workload)
    return _training_row(sc, prof) if sc.task == "training" else _estimate_row(prof)


def evaluate(point: Point) -> dict:
    try:
        result = _result(point.scenario)
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

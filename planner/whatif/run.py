"""Run every point of a what-if file, in parallel across processes: each point's request goes
through ``planner.answers.answer`` like any other question, and its answer becomes one row
(``planner.answers.point_rows``). A point that fails (no fit, a solver error, an unexpected
exception) is reported in its row and never stops the sweep. Progress goes to a callback."""

from __future__ import annotations

import os
from collections.abc import Callable

from planner.errors import InfeasibleError, InputError, PlannerError
from planner.whatif.schema import Point, WhatIf, request_of


def preflight(point: Point) -> None:
    """Errors a user must fix before anything runs (unknown model or GPU, bad sizes, a missing
    cluster file), named by the point's file, line and values."""
    from planner.answers.inputs import candidate_types, gguf_model, inventory_of, model_spec
    from planner.model.gguf import gguf_kind

    sc = point.scenario
    try:
        if gguf_kind(sc.model, sc.workload.engine) is not None:
            gguf_model(sc.model, None, sc.workload.engine, cache=True)
        else:
            model_spec(sc.model, cache=True)
        if sc.task == "plan":
            inventory_of(sc.inventory)
        if sc.task == "size":
            candidate_types(sc.size.gpu_types, sc.size.prices)
            if sc.size.cluster:
                from planner.hardware.topology import load_cluster

                load_cluster(sc.size.cluster)
    except PlannerError as e:
        raise InputError(f"{point.origin}: {e}") from None


def _result(sc: WhatIf) -> dict:
    from planner.answers import point_rows
    from planner.answers.answer import answer, answer_plan
    from planner.answers.llamacpp import LlamaCppAnswer

    request = request_of(sc)
    if sc.task == "plan":
        plan = answer_plan(request, reuse_models=True, diagnose=False)
        if isinstance(plan, LlamaCppAnswer):  # a GGUF model's split
            return point_rows.row_of(plan)
        if plan.assignment is None:
            from planner.answers.plan import shortfall_reason

            return point_rows.unplaced_row(plan, shortfall_reason(plan))
        return point_rows.plan_row(plan)
    result = answer(request, reuse_models=True)
    if sc.task == "training":
        from planner.answers.inputs import inventory_of

        gpus = inventory_of(sc.inventory).gpus if (sc.inventory.gpus or sc.inventory.max_memory) else ()
        return point_rows.training_row(result, gpus[0] if gpus else None)
    return point_rows.row_of(result)


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


def run(points: list[Point], jobs: int | None = None, on_progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """One row per point, in point order; ``on_progress(done, total)`` after each."""
    jobs = jobs or min(os.cpu_count() or 1, 8)
    rows: list[dict] = []

    def tick() -> None:
        if on_progress is not None:
            on_progress(len(rows), len(points))

    if jobs == 1 or len(points) < 4:
        for p in points:
            rows.append(evaluate(p))
            tick()
        return rows
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
    return rows

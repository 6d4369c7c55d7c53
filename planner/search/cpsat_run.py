"""How every CP-SAT search in the planner is run: deterministic, and stoppable with Ctrl-C.

Determinism: one search worker, a fixed seed, and a budget in CP-SAT's *deterministic* time (a
count of work, not of seconds), so a result is the same on every run and every machine load,
also when the budget is what stops the search. One deterministic second is roughly one wall
second on a current core; a wall-clock backstop of ``WALL_BACKSTOP`` times the budget only
guards against a pathological presolve.

Ctrl-C: CP-SAT's own SIGINT handling is turned off (left on, it ends the search as if the time
limit were reached, so an interrupted plan would be printed as an answer, and it leaves the
process's SIGINT handler at the default afterwards). The search runs in a worker thread (CP-SAT
releases the GIL) while the main thread waits in short slices with its own SIGINT handler, so
Ctrl-C stops the search at once; then the previous handler is restored and ``KeyboardInterrupt``
goes up to the CLI, which exits 130.
"""

from __future__ import annotations

import threading

WALL_BACKSTOP = 4.0
_POLL_S = 0.05


def deterministic_solver(seconds: float):
    """A single-worker CP-SAT solver stopped by ``seconds`` of deterministic time."""
    from planner.search.cp_model import load

    cp_model = load()
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    # Measured fastest on these models (benchmarks/cluster_placement.py): no linear relaxation,
    # and no presolve or probing, which on the placement models cost more than they save (about
    # half of every offloading solve at 4 to 32 GPUs, the same optima).
    solver.parameters.linearization_level = 0
    solver.parameters.cp_model_presolve = False
    solver.parameters.cp_model_probing_level = 0
    # Symmetry detection and the feasibility-jump first-solution heuristic find nothing here
    # that the hint does not give (10-20% of each stage's time, the same optima).
    solver.parameters.symmetry_level = 0
    solver.parameters.use_feasibility_jump = False
    # SAT inprocessing (clause simplification between restarts) pays off on long searches; these
    # prove in a few thousand branches, and without it DeepSeek-R1 with balance on 32 GPUs takes
    # 19 ms instead of 28 (the same optima on every case of the benchmark).
    solver.parameters.use_sat_inprocessing = False
    solver.parameters.max_deterministic_time = max(seconds, 0.01)
    solver.parameters.max_time_in_seconds = WALL_BACKSTOP * max(seconds, 0.01) + 1.0
    solver.parameters.catch_sigint_signal = False
    return solver


def run_search(solver, model):
    """``solver.solve(model)``, interruptible by Ctrl-C (see the module docstring)."""
    import signal

    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return solver.solve(model)  # signals go to the main thread only; a worker of a sweep ignores them
    out: dict = {}

    def work() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # delivered to the main thread only
        try:
            out["status"] = solver.solve(model)
        except BaseException as e:  # handed to the caller's thread
            out["error"] = e

    def stop(signum, frame) -> None:
        out["interrupted"] = True
        solver.stop_search()

    # The handler only stops the search; KeyboardInterrupt is raised once the worker has ended
    # (raised inside Thread.join, it can make join return while the search still runs).
    previous = signal.signal(signal.SIGINT, stop)
    try:
        worker = threading.Thread(target=work, name="cp-sat", daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(_POLL_S)
    finally:
        signal.signal(signal.SIGINT, previous)
    if out.get("interrupted"):
        raise KeyboardInterrupt
    if "error" in out:
        raise out["error"]
    return out["status"]


def solve_stage(model, expr, seconds: float, maximize: bool = False):
    """One stage of a lexicographic search, the way every staged CP-SAT search in the planner
    runs: optimise ``expr`` within ``seconds`` of deterministic time and, when a solution is
    found, keep every later stage from making it worse (``expr`` bounded by the value found).
    Returns (status, solver)."""
    from planner.search.cp_model import load

    cp_model = load()
    (model.maximize if maximize else model.minimize)(expr)
    solver = deterministic_solver(seconds)
    code = run_search(solver, model)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        value = round(solver.objective_value)
        model.add(expr >= value if maximize else expr <= value)
    return code, solver

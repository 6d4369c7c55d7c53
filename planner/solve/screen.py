"""Answers to "is there any plan?" that need no search: necessary conditions that prove a problem
infeasible, and simple plans that prove it feasible. The solver and the diagnosis ask these
first, so an impossible placement (or an obviously possible one) costs microseconds instead of
a CP-SAT model and its import.

Why the conditions hold (loads.py's rules, with at least one GPU in use whenever there are GPUs,
as the CP-SAT model and the exhaustive oracle require):
- Every item runs on a GPU: on its own, which then holds its weights, KV and activation peak
  and its reserve; or, offloaded, on the execution GPU, which holds room to onload its weights,
  its KV, its activation peak and its reserve. Either way one GPU (its pinned GPU, if pinned to
  one) holds weights + KV + activation + reserve of that item.
- Every KV byte sits on a GPU, the largest activation peak on at least one, and every GPU in use
  keeps its reserve: together they need no more than all GPU capacity.
- Weights and KV together need no more than every device's capacity; items pinned to the CPU
  or the disk need no more than that device holds.
"""

from __future__ import annotations

from planner.solve.problem import Problem
from planner.solve.verify import verify


def proven_infeasible(problem: Problem) -> str | None:
    """Why no plan can exist, when a necessary condition fails; None when they all hold (which
    proves nothing)."""
    gpus = problem.gpu_indices
    if not gpus:
        return None
    devs = problem.devices
    room = {g: devs[g].usable_bytes for g in gpus}
    best = max(room.values())
    for it in problem.items:
        pinned_gpu = len(it.allowed) == 1 and it.allowed[0] in room
        here = room[it.allowed[0]] if pinned_gpu else best
        need = it.weights_bytes + it.kv_bytes + it.activation_bytes
        if need > here:
            where = f"GPU {devs[it.allowed[0]].key}" if pinned_gpu else "the largest GPU"
            return f"{it.names[0]} needs {need:,} bytes to run, more than {where} holds ({here:,})"
    gpu_cap = sum(devs[g].capacity_bytes for g in gpus)
    kv = sum(it.kv_bytes for it in problem.items)
    act = max((it.activation_bytes for it in problem.items), default=0)
    reserve = min(devs[g].reserve_bytes for g in gpus)
    if kv + act + reserve > gpu_cap:
        return f"KV cache, activations and a reserve need {kv + act + reserve:,} bytes, all GPUs hold {gpu_cap:,}"
    weights = sum(it.weights_bytes for it in problem.items)
    if weights + kv + act + reserve > sum(d.capacity_bytes for d in devs):
        return f"the model needs {weights + kv + act + reserve:,} bytes, all devices hold {sum(d.capacity_bytes for d in devs):,}"
    for host in (problem.cpu, problem.disk):
        if host is not None:
            pinned = sum(it.weights_bytes for it in problem.items if it.allowed == (host,))
            if pinned > devs[host].capacity_bytes:
                return f"weights pinned to {devs[host].key} need {pinned:,} bytes, it holds {devs[host].capacity_bytes:,}"
    return None


def simple_plan(problem: Problem) -> tuple[int, ...] | None:
    """A valid assignment found without search, or None: every free item on the host (the CPU
    in sequence order while it has room, the rest on disk) and one on a GPU, which executes
    them. Each is checked by ``verify``, so a plan returned is valid."""
    gpus = problem.gpu_indices
    cpu, disk = problem.cpu, problem.disk
    if not gpus or (cpu is None and disk is None):
        return None
    devs = problem.devices
    for g in sorted(gpus, key=lambda g: (-(devs[g].usable_bytes), g)):
        for plan in _host_plans(problem, g):
            if not verify(problem, plan):
                return plan
    return None


def _host_plans(problem: Problem, g: int):
    """Free items on the host and one of them (the first, the last or the smallest) on GPU g, so
    that a GPU is in use and executes the rest."""
    cpu, disk, items = problem.cpu, problem.disk, problem.items
    free = [i for i, it in enumerate(items) if len(it.allowed) > 1]
    if not free:
        return
    base = [it.allowed[0] if len(it.allowed) == 1 else -1 for it in items]
    smallest = min(free, key=lambda i: (items[i].weights_bytes + items[i].kv_bytes, i))
    for on_gpu in dict.fromkeys(((free[0],), (free[-1],), (smallest,))):
        out = list(base)
        for i in on_gpu:
            out[i] = g
        rest = [i for i in free if i not in on_gpu]
        if cpu is None:
            yield tuple(disk if i in rest else d for i, d in enumerate(out))
            continue
        stage = max((items[i].weights_bytes for i in rest), default=0) if disk is not None else 0
        room = problem.devices[cpu].capacity_bytes - stage - sum(
            it.weights_bytes for it in items if it.allowed == (cpu,))
        for i in rest:  # fill the CPU in sequence order, the rest to disk
            fits = items[i].weights_bytes <= room
            out[i] = cpu if fits or disk is None else disk
            room -= items[i].weights_bytes if fits else 0
        yield tuple(out)


def filled_plan(problem: Problem) -> tuple[int, ...] | None:
    """A plan that offloads only what the GPUs cannot hold, without search, as CP-SAT's starting
    point when the model must offload (the greedy's plan, accelerate's rule, can be far from it:
    DeepSeek-R1 on 32 mixed GPUs offloads 31.4 s per pass there against 14.7 s at the optimum).
    GPUs other than the execution GPU take, largest first, as many sequence items as fit from the
    start; the rest goes to the CPU; the execution GPU (the lowest-numbered one used, so those
    below it stay idle) keeps room to run those and takes what more fits from the end. Each GPU
    that is the first of its size is tried as the execution GPU and the best valid plan (by
    objective_values) is kept; None when none is valid or the problem has pinned items."""
    from planner.solve.loads import objective_key

    cpu, gpus, items = problem.cpu, problem.gpu_indices, problem.items
    if cpu is None or not gpus or any(len(it.allowed) < len(problem.devices) for it in items):
        return None
    devs = problem.devices
    firsts = {}
    for g in gpus:
        firsts.setdefault((devs[g].capacity_bytes, devs[g].reserve_bytes), g)
    plans = [plan for e in sorted(firsts.values())
             for plan in [_filled_from(problem, e, [g for g in gpus if g > e])]
             if plan is not None and not verify(problem, plan)]
    return min(plans, key=lambda a: objective_key(problem, a), default=None)


def _filled_from(problem: Problem, e: int, others: list[int]) -> tuple[int, ...] | None:
    devs, items, n = problem.devices, problem.items, len(problem.items)
    out = [problem.cpu] * n
    pos = 0
    for g in sorted(others, key=lambda g: (-(devs[g].usable_bytes), g)):
        room = devs[g].usable_bytes
        end, weight, peak = pos, 0, 0
        while end < n:
            it = items[end]
            if weight + it.weights_bytes + it.kv_bytes + max(peak, it.activation_bytes) > room:
                break
            weight += it.weights_bytes + it.kv_bytes
            peak = max(peak, it.activation_bytes)
            end += 1
        out[pos:end] = [g] * (end - pos)
        pos = end
    # the execution GPU runs the CPU's items pos..start-1 and holds start..n-1 itself: it takes
    # items from the end while its load (loads.py's rule for the execution GPU) still fits
    weights = [it.weights_bytes for it in items]
    kv = [it.kv_bytes for it in items]
    acts = [it.activation_bytes for it in items]
    room = devs[e].usable_bytes
    own = own_peak = 0
    start = n
    while start > pos:
        k = start - 1
        held = own + weights[k] + kv[k]
        peak = max(own_peak, acts[k], max(acts[pos:k], default=0))
        extras = max(weights[pos:k], default=0) + sum(kv[pos:k])
        if held + peak + extras > room:
            break
        own, own_peak, start = held, max(own_peak, acts[k]), k
    if start == n:
        return None  # the execution GPU holds nothing of its own: not this plan
    out[start:] = [e] * (n - start)
    return tuple(out)

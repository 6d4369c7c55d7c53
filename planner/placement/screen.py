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
  or the disk need no more than that device holds. (An item's weights count at the least of
  its GPU and hosted sizes wherever it may be either: ``Item.hosted``.)
- The execution GPU e (the lowest-numbered GPU in use; those below it hold nothing) holds the
  KV cache of every item no later GPU holds, its own items' weights and room to onload the
  largest offloaded one, the largest activation it runs and its reserve. An item that no GPU
  after e could hold alone (weights + KV + activation over its room) is e's, as its own or
  offloaded; e also holds at least one item. So e holds at least: the KV cache less what the
  GPUs after e could take at most (the room each has for items with KV beside the activation it
  then runs: that of one such item, or past one item the second-least of them; filled with the
  items richest in KV per byte, the last one in part), the largest activation among e's items
  (with KV left on e, e runs an item with KV, two past the largest one's KV: the least and the
  second-least activation of such items), the largest weights among
  them plus the smallest of any item (with two or more of them: one is its own and one
  onloaded, or one onloaded beside another it holds, or both its own), and the reserve. When
  that is over e's capacity for every GPU e, nothing fits (``execution_bound``).
"""

from __future__ import annotations

from fractions import Fraction

from planner.placement.loads import device_loads, objective_key
from planner.placement.problem import Problem
from planner.placement.verify import verify
from planner.units import size_text


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
        need = _least_weights(it, devs) + it.kv_bytes + it.activation_bytes
        if need > here:
            where = f"GPU {devs[it.allowed[0]].key}" if pinned_gpu else "the largest GPU"
            return f"{it.names[0]} needs {size_text(need)} to run, more than {where} holds ({size_text(here)})"
    gpu_cap = sum(devs[g].capacity_bytes for g in gpus)
    on_gpus, anywhere = byte_needs(problem, min(devs[g].reserve_bytes for g in gpus))
    if on_gpus > gpu_cap:
        return f"KV cache, activations and a reserve need {size_text(on_gpus)}, all GPUs hold {size_text(gpu_cap)}"
    if anywhere > sum(d.capacity_bytes for d in devs):
        return f"the model needs {size_text(anywhere)}, all devices hold {size_text(sum(d.capacity_bytes for d in devs))}"
    for host in (problem.cpu, problem.disk):
        if host is not None:
            pinned = sum(it.hosted for it in problem.items if it.allowed == (host,))
            if pinned > devs[host].capacity_bytes:
                return (f"weights pinned to {devs[host].key} need {size_text(pinned)}, it holds "
                        f"{size_text(devs[host].capacity_bytes)}")
    return execution_bound(problem)


def byte_needs(problem: Problem, reserve: int) -> tuple[int, int]:
    """The module docstring's byte totals: what the GPUs hold at least (all KV, the largest
    activation, one ``reserve``) and what all devices hold at least (that and all weights)."""
    kv = sum(it.kv_bytes for it in problem.items)
    act = max((it.activation_bytes for it in problem.items), default=0)
    weights = sum(_least_weights(it, problem.devices) for it in problem.items)
    return kv + act + reserve, weights + kv + act + reserve


def _least_weights(it, devs) -> int:
    """The least of an item's weights anywhere it may be: on a GPU, or hosted when it may be offloaded."""
    offloadable = any(devs[d].kind != "gpu" for d in it.allowed)
    return min(it.weights_bytes, it.hosted) if offloadable else it.weights_bytes


def execution_bound(problem: Problem) -> str | None:
    """The module docstring's last condition, for problems without pins: why no GPU can be the
    execution GPU, or None."""
    needs = execution_needs(problem)
    if not needs or any(need <= problem.devices[g].usable_bytes for g, need in needs):
        return None
    g, need = needs[0]
    dev = problem.devices[g]
    return (f"the execution GPU needs at least {size_text(need + dev.reserve_bytes)} (KV cache, activations and onload "
            f"room of what it runs, and its reserve), more than GPU {dev.key} holds ({size_text(dev.capacity_bytes)})")


def execution_needs(problem: Problem) -> list[tuple[int, int]]:
    """(GPU, the least it holds as the execution GPU, reserve left out) for each GPU that could be
    it, by the module docstring's last condition; empty when the problem has pins, no GPU or no
    item. A GPU with no more room than one before it is left out: the earlier one, as e, has
    every later GPU this one has and more, so its need is no higher."""
    devs, items, gpus = problem.devices, problem.items, problem.gpu_indices
    if not gpus or not items or any(len(it.allowed) != len(devs) for it in items):
        return []
    room = [devs[g].usable_bytes for g in gpus]
    kv_acts = sorted(it.activation_bytes for it in items if it.kv_bytes)
    kv_held = max((_held(it) for it in items if it.kv_bytes), default=0)
    after_max, after_sum = [0] * (len(gpus) + 1), [0] * (len(gpus) + 1)
    for p in range(len(gpus) - 1, -1, -1):
        after_max[p], after_sum[p] = max(after_max[p + 1], room[p]), after_sum[p + 1] + _kv_room(room[p], kv_acts, kv_held)
    shapes: dict[tuple[int, int, int], int] = {}  # (KV, weights + KV, activation) -> items of that shape
    for it in items:
        key = (it.kv_bytes, _held(it), it.activation_bytes)
        shapes[key] = shapes.get(key, 0) + 1
    by_kv = sorted(shapes.items(), key=lambda kv: -Fraction(kv[0][0], kv[0][1] or 1))
    kv_total = sum(it.kv_bytes for it in items)
    w_min = min(min(it.weights_bytes, it.hosted) for it in items)
    a_min = min(it.activation_bytes for it in items)
    kv_one = max((it.kv_bytes for it in items), default=0)
    best, out = -1, []
    for p, g in enumerate(gpus):
        if room[p] <= best:
            continue
        best = room[p]
        own = [it for it in items if _held(it) + it.activation_bytes > after_max[p + 1]]
        weights = sorted((min(it.weights_bytes, it.hosted) for it in own), reverse=True)
        kv_left = kv_total - _kv_taken(by_kv, after_sum[p + 1], after_max[p + 1])
        # KV on e is that of items e runs: one of them at least, two past the largest one's KV
        runs = kv_acts[:1] if kv_left > 0 else []
        runs += kv_acts[1:2] if kv_left > kv_one else []
        out.append((g, kv_left + max([a_min, *runs] + [it.activation_bytes for it in own])
                    + (weights[0] + w_min if len(weights) > 1 else weights[0] if weights else w_min)))
    return out


def _kv_room(room: int, acts: list[int], held: int) -> int:
    """Most bytes of items with KV cache a GPU with ``room`` can hold: it runs the activation of one
    of them at least, and of the second-least of them once it holds two (an upper bound; the KV
    knapsack of ``execution_needs`` fills it). ``acts``: those items' activations, sorted; ``held``:
    the most weights + KV of one of them."""
    if not acts:
        return 0
    one = min(room - acts[0], held)
    return max(one, room - acts[1] if len(acts) > 1 else 0, 0)


def _held(it) -> int:
    return it.weights_bytes + it.kv_bytes


def _kv_taken(by_kv: list[tuple[tuple[int, int, int], int]], room: int, largest: int) -> int:
    """Most KV cache GPUs with ``room`` bytes in all (none over ``largest``) can take from the
    items each of them could hold alone (``by_kv``: (KV, weights + KV, activation) of a shape and
    its count, richest in KV per byte first): a fractional knapsack, the last item's share rounded
    up (an upper bound, so the need stays a lower bound)."""
    taken = 0
    for (kv, size, act), count in by_kv:
        if size + act > largest or not kv:
            continue
        whole = min(count, room // size)
        taken, room = taken + whole * kv, room - whole * size
        if whole < count:
            return taken + -(-kv * room // size)
    return taken


def simple_plan(problem: Problem) -> tuple[int, ...] | None:
    """A valid assignment found without search, or None: every free item on the host (the CPU
    in sequence order while it has room, the rest on disk) and one on a GPU, which executes
    them. Each is checked by ``verify``, so a plan returned is valid. Without items pinned to a
    GPU, one GPU of each size is tried: as the only GPU used, two of a size hold the same."""
    gpus = problem.gpu_indices
    cpu, disk = problem.cpu, problem.disk
    if not gpus or (cpu is None and disk is None):
        return None
    devs = problem.devices
    pinned = any(len(it.allowed) == 1 and devs[it.allowed[0]].kind == "gpu" for it in problem.items)
    sizes = {}
    for g in sorted(gpus, key=lambda g: (-(devs[g].usable_bytes), g)):
        sizes.setdefault(g if pinned else (devs[g].capacity_bytes, devs[g].reserve_bytes), g)
    for g in sizes.values():
        for plan in _host_plans(problem, g):
            if not verify(problem, plan):
                return plan
    return None


def _host_plans(problem: Problem, g: int):
    """Free items on the host and one of them (the first, the last or the smallest) on GPU g, so
    that a GPU is in use and executes the rest."""
    items = problem.items
    free = [i for i, it in enumerate(items) if len(it.allowed) > 1]
    if not free:
        return
    base = [it.allowed[0] if len(it.allowed) == 1 else -1 for it in items]
    smallest = min(free, key=lambda i: (items[i].weights_bytes + items[i].kv_bytes, i))
    for on_gpu in dict.fromkeys(((free[0],), (free[-1],), (smallest,))):
        out = list(base)
        for i in on_gpu:
            out[i] = g
        _to_host(problem, out, [i for i in free if i not in on_gpu])
        yield tuple(out)


def _to_host(problem: Problem, out: list[int], rest: list[int]) -> None:
    """Place items ``rest`` in ``out`` on the host: the CPU in sequence order while it has room
    (beside what is pinned there and room to stage a disk item), the rest on disk."""
    cpu, disk, items = problem.cpu, problem.disk, problem.items
    if cpu is None:
        for i in rest:
            out[i] = disk
        return
    stage = max((items[i].hosted for i in rest), default=0) if disk is not None else 0
    room = problem.devices[cpu].capacity_bytes - stage - sum(it.hosted for it in items if it.allowed == (cpu,))
    for i in rest:
        fits = items[i].hosted <= room
        out[i] = cpu if fits or disk is None else disk
        room -= items[i].hosted if fits else 0


def filled_plan(problem: Problem) -> tuple[int, ...] | None:
    """A plan that offloads only what the GPUs cannot hold, without search, as CP-SAT's starting
    point when the model must offload (the greedy's plan, accelerate's rule, can be far from it:
    DeepSeek-R1 on 32 mixed GPUs offloads 31.4 s per pass there against 14.7 s at the optimum).
    GPUs other than the execution GPU take, largest first, as many sequence items as fit from the
    start; the rest goes to the host (the CPU while it has room, then the disk); the execution
    GPU (the lowest-numbered one used, so those below it stay idle) keeps room to run those and
    takes what more fits from the end (or, when nothing at the end fits beside what it runs, the
    smallest item left). Each GPU that is the first of its size is tried as the execution GPU and
    the best valid plan (by objective_values) is kept; None when none is valid or the problem
    has pinned items."""
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
    """The filled plan with execution GPU e: it keeps a tail of the items the others leave, or,
    when no tail fits beside what it runs (the tail item is too large), the smallest of them."""
    devs, items, n = problem.devices, problem.items, len(problem.items)
    out = [-1] * n
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
    # over the items pos..k-1 that stay on the host: their largest hosted weights (the onload room)
    # and activation, and their KV
    top_w, top_a, kv_sum = [0] * (n + 1), [0] * (n + 1), [0] * (n + 1)
    for k in range(pos, n):
        top_w[k + 1], top_a[k + 1] = max(top_w[k], items[k].hosted), max(top_a[k], acts[k])
        kv_sum[k + 1] = kv_sum[k] + kv[k] + items[k].buffer_bytes  # its KV and buffers stay on the execution GPU
    own = own_peak = 0
    start = n
    while start > pos:
        k = start - 1
        held = own + weights[k] + kv[k]
        peak = max(own_peak, acts[k], top_a[k])
        extras = top_w[k] + kv_sum[k]
        if held + peak + extras > room:
            break
        own, own_peak, start = held, max(own_peak, acts[k]), k
    if start < n:
        own = range(start, n)
    elif pos < n:
        own = [min(range(pos, n), key=lambda i: (weights[i] + kv[i], i))]  # checked by the caller
    else:
        return None
    for i in own:
        out[i] = e
    _to_host(problem, out, [i for i in range(pos, n) if out[i] != e])
    return tuple(out)


def one_gpu_shortfall(problem: Problem) -> tuple[int, dict[int, int]] | None:
    """The least shortfall (bytes over capacity in all, units kept whole) and where it is, for one
    GPU without pins, when the execution bound settles it: whatever else a plan does, the GPU
    holds at least that bound; the plan that keeps the lightest item on it and the rest on the
    host holds exactly the bound when the host has room, so no plan misses less. None when it
    does not apply or the two differ (the search decides then)."""
    gpus = problem.gpu_indices
    needs = execution_needs(problem)
    if len(gpus) != 1 or not needs or (problem.cpu is None and problem.disk is None):
        return None
    g, need = needs[0]
    items, devs = problem.items, problem.devices
    out = [-1] * len(items)
    own = min(range(len(items)), key=lambda i: (items[i].weights_bytes, i))
    out[own] = g
    _to_host(problem, out, [i for i in range(len(items)) if i != own])
    loads = device_loads(problem, tuple(out))
    over = {d: load.total_bytes - dev.capacity_bytes for d, (dev, load) in enumerate(zip(devs, loads, strict=True))
            if load.total_bytes > dev.capacity_bytes}
    if set(over) != {g} or over[g] != need - devs[g].usable_bytes:
        return None
    return over[g], over

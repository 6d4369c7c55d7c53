"""A lower bound on the least offload time of any plan, without search: when a starting plan
offloads no more than this, the solver's first stage is proven by it and CP-SAT skips that
stage; the bound per execution GPU also tells which GPUs can execute such a plan, and the model
lets only those (about a third of an offloading solve at 32 GPUs).

Why it holds (loads.py's rules, with at least one GPU in use whenever there are GPUs, as the
CP-SAT model requires). Group the items by shape s (weights w, KV k, activation a; N_s items of
it, each costing at least c_s ns when offloaded, its cheapest host tier; h its hosted weights,
the onload room it takes: Item.hosted). Fix the execution GPU
e: GPUs below it hold nothing. Any other GPU g holds at most
  x_g = floor((room_g - a) / (w + k))
items of shape s (room = capacity - reserve), since a GPU holding one runs its activation and
other items only add to the load; e holds at most that many too. So at least
  m_s = N_s - sum over g >= e of x_g
items of s are offloaded. When m_s > 0, e also holds room to onload one of them (h), its KV and
that of the m_s - 1 others (m_s k) and runs an activation of at least a, so it holds at most
  floor((room_e - a - h - m_s k) / (w + k))
of its own, which raises m_s; repeating while m_s grows keeps every step a valid bound (a larger
m_s only shrinks e's share). If e cannot even hold those extras, no plan executes on e. The
shapes' offloaded items are different items, so every plan executing on e offloads at least
sum over s of m_s c_s; the least of these over the choices of e bounds every plan. The bound
ignores contiguity, the other shapes on the same GPU and the host's capacities, all of which
can only raise the optimum.
"""

from __future__ import annotations

from planner.placement.loads import held_alone
from planner.placement.problem import Problem


def offload_floor(problem: Problem) -> int:
    """Nanoseconds per forward pass that every plan offloads at least (0 when nothing is forced
    off the GPUs, or there is no GPU or no host device)."""
    floors = [f for f in execution_floors(problem).values() if f is not None]
    return min(floors, default=0)


def execution_floors(problem: Problem) -> dict[int, int | None]:
    """Per GPU e: the least offload time of any plan that executes on e (the lowest-numbered GPU
    in use), or None when no plan can; empty when there is no GPU or no host device."""
    gpus, devs = problem.gpu_indices, problem.devices
    hosts = [d for d, dev in enumerate(devs) if dev.kind != "gpu"]
    if not gpus or not hosts:
        return {}
    shapes: dict[tuple[int, int, int, int], list[int]] = {}  # shape -> [count, cheapest offload ns]
    for i, it in enumerate(problem.items):
        cost = min(problem.offload_ns[i][d] for d in hosts)
        entry = shapes.setdefault((it.weights_bytes, it.kv_bytes, it.activation_bytes, it.hosted), [0, cost])
        entry[0] += 1
        entry[1] = min(entry[1], cost)
    room = [devs[g].usable_bytes for g in gpus]
    usable = [(w, kv, act, h, count, cost) for (w, kv, act, h), (count, cost) in shapes.items() if cost and w + kv]
    later = []  # per shape: how many the GPUs after the k-th hold, for every k
    for w, kv, act, _, _, _ in usable:
        after = [0] * (len(gpus) + 1)
        for k in range(len(gpus) - 1, -1, -1):
            after[k] = after[k + 1] + held_alone(room[k], w + kv, act)
        later.append(after)
    out: dict[int, int | None] = {}
    for k, e in enumerate(gpus):
        floor_e: int | None = 0
        for (w, kv, act, h, count, cost), after in zip(usable, later, strict=True):
            m = _forced(count - after[k + 1], room[k], w, kv, act, h)
            if m is None:
                floor_e = None  # e cannot run an offloaded item of this shape, yet one must be offloaded
                break
            floor_e += m * cost
        out[e] = floor_e
    return out


def _forced(left: int, room: int, w: int, kv: int, act: int, hosted: int) -> int | None:
    """Items of one shape offloaded at least when ``left`` of them must go to the execution GPU
    (room ``room``) or the host; None when the execution GPU cannot run one offloaded (its onload
    room holds the item's ``hosted`` weights)."""
    m = left - held_alone(room, w + kv, act)
    while m > 0:
        spare = room - act - hosted - m * kv
        if spare < 0:
            return None
        grown = left - spare // (w + kv)
        if grown <= m:
            return m
        m = grown
    return 0


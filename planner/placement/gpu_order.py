"""Which physical GPU plays each part of a plan, chosen with the machine's topology.

The solvers place units on GPUs that are interchangeable for every objective they prove (same
capacity, reserve, host link, price and pins): any permutation of such GPUs is an equally optimal
plan. What tells them apart is the link between consecutive GPUs of the model: each forward pass
hands the hidden states from one GPU to the next, over NVLink inside an island or through the
host between islands (hardware/topology.py). Among the plans the solver proved, this picks the one
whose hops cost least, so a device_map keeps consecutive stages inside an island; ties keep the
lowest CUDA indices, so without a topology nothing moves.

Plans that offload keep their GPUs: the execution GPU (the lowest-numbered in use) runs the
offloaded units, and moving it is not a relabelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.hardware.topology import HostLayout
from planner.placement.problem import Problem, _same

MAX_BRANCHES = 200_000
"""Search nodes of the exact ordering; past it the best order found so far is kept."""


@dataclass(frozen=True)
class Hop:
    """Hidden states crossing from one GPU to the next on every forward pass."""

    source: int
    target: int
    link: str
    """gpu_links kind of catalogs/speed_model.yaml."""
    seconds: float
    """Per forward pass of the workload's prompt: latency + bytes at the link's bus bandwidth."""


def _sequence(problem: Problem, assignment: tuple[int, ...]) -> list[int]:
    """The GPUs in model order, each once per run (the device indices consecutive units cross)."""
    gpus = set(problem.gpu_indices)
    out: list[int] = []
    for i, item in enumerate(problem.items):
        d = assignment[i]
        if item.in_sequence and d in gpus and (not out or out[-1] != d):
            out.append(d)
    return out


def hops(problem: Problem, assignment: tuple[int, ...], layout: HostLayout, nbytes: int) -> tuple[Hop, ...]:
    """Every hop between consecutive GPUs of the plan, priced by the link it crosses."""
    from planner.costs.comm import speed_model

    model, seq = speed_model(), _sequence(problem, assignment)
    out = []
    for a, b in zip(seq, seq[1:], strict=False):
        ka, kb = problem.devices[a].key, problem.devices[b].key
        kind = layout.link_kind(int(ka), int(kb))
        out.append(Hop(int(ka), int(kb), kind, model.link(kind).allreduce_s(2, nbytes)))
    return tuple(out)


def _classes(problem: Problem) -> dict[int, tuple]:
    """GPU index -> the key of its interchangeability class (what every objective sees of it)."""
    out: dict[int, tuple] = {}
    reps: list[int] = []
    for g in problem.gpu_indices:
        pins = tuple(g in it.allowed for it in problem.items)
        rep = next((r for r in reps if _same(problem.devices[r], problem.devices[g]) and out[r][1] == pins), None)
        if rep is None:
            reps.append(g)
            out[g] = (g, pins)
        else:
            out[g] = out[rep]
    return out


def order_gpus(problem: Problem, assignment: tuple[int, ...], layout: HostLayout | None,
               nbytes: int) -> tuple[int, ...]:
    """The assignment with its GPUs permuted inside their classes to the least total hop time
    (``assignment`` itself when nothing is cheaper, there is no topology, or the plan offloads)."""
    gpus = set(problem.gpu_indices)
    if layout is None or len(layout.islands) < 2 or any(d not in gpus for d in assignment):
        return assignment
    from planner.costs.comm import speed_model

    model = speed_model()
    key = {g: int(problem.devices[g].key) for g in problem.gpu_indices}

    def cost(a: int, b: int) -> float:
        return model.link(layout.link_kind(key[a], key[b])).allreduce_s(2, nbytes)

    seq, classes = _sequence(problem, assignment), _classes(problem)
    roles = list(dict.fromkeys(seq))  # each used GPU once, in model order
    best = _search(seq, roles, classes, sorted(gpus), cost)
    if best is None:
        return assignment
    return tuple(best.get(d, d) for d in assignment)  # GPUs off the sequence (pinned units) keep their place


def _search(seq, roles, classes, gpus, cost):
    """The cheapest injective role -> GPU map inside classes (branch and bound; ties: lowest GPUs)."""
    best: dict = {"cost": sum(cost(a, b) for a, b in zip(seq, seq[1:], strict=False)), "map": None, "nodes": 0}
    chosen: dict[int, int] = {}

    def partial() -> float:
        return sum(cost(chosen[a], chosen[b]) for a, b in zip(seq, seq[1:], strict=False) if a in chosen and b in chosen)

    def walk(k: int) -> None:
        best["nodes"] += 1
        if best["nodes"] > MAX_BRANCHES:
            return
        spent = partial()
        if spent > best["cost"] + 1e-15:
            return
        if k == len(roles):
            if spent < best["cost"] - 1e-15 or best["map"] is None and spent <= best["cost"] + 1e-15:
                best["cost"], best["map"] = spent, dict(chosen)
            return
        role = roles[k]
        for g in gpus:
            if classes[g] == classes[role] and g not in chosen.values():
                chosen[role] = g
                walk(k + 1)
                del chosen[role]

    walk(0)
    return best["map"]

"""Which physical GPU plays each part of a plan, chosen with the machine's topology.

The solvers place units on GPUs that are interchangeable for every objective they prove (same
capacity, reserve, host link, price and pins): any permutation of such GPUs is an equally optimal
plan. What tells them apart is the link between consecutive GPUs of the model: each forward pass
hands the hidden states from one GPU to the next, over NVLink inside an island or through the
host between islands (hardware/topology.py). Among the plans the solver proved, this picks the one
whose hops cost least (``order_gpus``: exact when the used GPUs are of one class), so a device_map
keeps consecutive stages inside an island; a permutation that is not cheaper is not taken, so
without a topology nothing moves.

Plans that offload keep their GPUs: the execution GPU (the lowest-numbered in use) runs the
offloaded units, and moving it is not a relabelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.hardware.topology import HostLayout
from planner.placement.problem import Problem, _same


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


def _hop(layout: HostLayout, a: int, b: int, nbytes: int) -> Hop:
    """The hop from CUDA GPU a to b: the link it crosses, latency + bytes at its bus bandwidth."""
    from planner.costs.comm import speed_model

    kind = layout.link_kind(a, b)
    return Hop(a, b, kind, speed_model().link(kind).allreduce_s(2, nbytes))


def hops(problem: Problem, assignment: tuple[int, ...], layout: HostLayout, nbytes: int) -> tuple[Hop, ...]:
    """Every hop between consecutive GPUs of the plan, priced by the link it crosses."""
    seq = _sequence(problem, assignment)
    return tuple(_hop(layout, int(problem.devices[a].key), int(problem.devices[b].key), nbytes)
                 for a, b in zip(seq, seq[1:], strict=False))


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
    """The assignment with its GPUs permuted inside their classes to the least total hop time, or
    ``assignment`` itself when nothing is cheaper, there is no topology, or the plan offloads.

    Inside one machine a hop costs the island's link or the link between islands, so the cost
    falls with the number of times consecutive GPUs change island. When every used GPU is of one
    class this is exact: the model's parts fill the islands with the most free GPUs of the class,
    one island after another (fewest islands, so fewest changes). With several classes, each part
    stays in the previous part's island when a GPU of its class is free there, else takes the
    island with the most of them; the result is kept only when it costs less than the solver's."""
    gpus = set(problem.gpu_indices)
    if layout is None or len(layout.islands) < 2 or any(d not in gpus for d in assignment):
        return assignment
    key = {g: int(problem.devices[g].key) for g in problem.gpu_indices}
    seq, classes = _sequence(problem, assignment), _classes(problem)

    def cost(order: list[int]) -> float:
        return sum(_hop(layout, key[a], key[b], nbytes).seconds for a, b in zip(order, order[1:], strict=False))

    roles = list(dict.fromkeys(seq))  # each used GPU once, in model order
    free = {}  # (class, island) -> free GPUs of that class in that island, lowest index first
    for g in sorted(gpus, key=lambda g: key[g]):
        free.setdefault((classes[g], layout.island_of(key[g])), []).append(g)
    mapping = _fill(roles, classes, free) if len({classes[r] for r in roles}) == 1 else _greedy(roles, classes, free,
                                                                                              layout, key)
    moved = [mapping[g] for g in seq]
    if cost(moved) >= cost(seq) - 1e-15:
        return assignment
    return tuple(mapping.get(d, d) for d in assignment)  # GPUs off the sequence (pinned units) keep their place


def _fill(roles: list[int], classes: dict, free: dict) -> dict[int, int]:
    """One class: the islands with the most free GPUs first (ties: the lowest GPU), filled in turn."""
    cls = classes[roles[0]]
    islands = sorted((members for (c, _), members in free.items() if c == cls), key=lambda m: (-len(m), m[0]))
    order = [g for members in islands for g in members]
    return dict(zip(roles, order, strict=False))


def _greedy(roles: list[int], classes: dict, free: dict, layout: HostLayout, key: dict) -> dict[int, int]:
    """Several classes: stay in the previous island while a GPU of the part's class is free there."""
    left = {k: list(v) for k, v in free.items()}
    out: dict[int, int] = {}
    island = None
    for role in roles:
        here = left.get((classes[role], island), [])
        if not here:
            options = [(k, v) for k, v in left.items() if k[0] == classes[role] and v]
            (_, island), here = min(options, key=lambda kv: (-len(kv[1]), kv[1][0]))
        out[role] = here.pop(0)
        island = layout.island_of(key[out[role]])
    return out

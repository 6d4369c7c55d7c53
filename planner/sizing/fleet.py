"""Which hosts to buy (or instances to rent), how many, and in which vLLM layout, to serve a model.

Candidates (``sizing_units.py``): for every GPU type, every tensor-parallel size vLLM accepts and
the pipeline depths up to the GPU budget, the layout as units of whole hosts or instances. CP-SAT
picks unit counts u_c >= 0 (several types may mix, as Melange does for cost) so that
    sum_c u_c seqs_c >= concurrency          every sequence has room for its whole context
    sum_c u_c tokens_per_s_c >= target       when a throughput target is given
    sum_c u_c gpus_c <= max_gpus,  sum_c u_c hosts_c <= max_hosts,
    sum_c u_c watts_c <= max_power,  sum_c u_c rack_units_c <= max_rack_units
    sum_{c owned, type t} u_c hosts_c <= the hosts one's GPUs of type t sit in
    added_t >= sum_{c owned, type t} u_c gpus_c - GPUs of type t one has   (bought, priced)
minimising the objective (GPUs, purchase USD of hosts and GPUs, USD per hour of instances, or
purchase plus energy over the horizon), then GPUs, then maximising decode throughput. Without a
target, limits or owned GPUs, the same optimum comes from a dynamic program over (sequences held,
GPUs used) after dropping candidates another one beats on every count (``_knapsack``), exact and
without a time limit. Exhaustive enumeration on small catalogs gives the same optimum
(tests/test_sizing.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from planner.catalog import GpuType
from planner.costs.profile import Profile
from planner.costs.vllm import DEFAULT_UTILIZATION
from planner.errors import InputError
from planner.hardware.prices import Energy, hourly_units, price_of
from planner.objectives import SIZE_OBJECTIVES
from planner.sizing.candidates import Candidate, added_gpus, make_candidates, owned_hosts

DP_WORK = 4_000_000
"""Largest (concurrency + 1) x (max GPUs + 1) x candidates the exact dynamic program takes on;
beyond it (or with a target, a limit or owned GPUs) CP-SAT decides."""


@dataclass(frozen=True)
class Limits:
    """What the answer may not exceed, beyond its GPU count."""

    max_hosts: int | None = None
    max_power_w: float | None = None
    max_rack_units: int | None = None
    owned: dict[str, int] = field(default_factory=dict)
    """GPUs one already has, by catalog type: used first, free to buy."""

    @property
    def any(self) -> bool:
        return bool(self.max_hosts or self.max_power_w or self.max_rack_units or self.owned)


@dataclass(frozen=True)
class Sizing:
    status: str
    """optimal | feasible | unknown | infeasible"""
    objective: str
    choice: tuple[tuple[Candidate, int], ...]
    """(candidate unit, units) of the answer."""
    objective_value: float
    """The answer's value of the objective: GPUs, USD (price, tco) or USD per hour (hourly)."""
    alternatives: tuple[tuple[Candidate, int], ...]
    """Best answer using each GPU type alone, cheapest first."""
    context: int
    concurrency: int
    solve_seconds: float
    considered: int
    energy: Energy = Energy()
    limits: Limits = Limits()


def _weight(c: Candidate, objective: str, energy: Energy) -> int:
    """Integer objective coefficient: GPUs, whole USD, or USD/hour in 1/10000."""
    return hourly_units(c.cost(objective, energy)) if objective == "hourly" else round(c.cost(objective, energy))


def size(profile: Profile, gpu_types: list[GpuType], context: int, concurrency: int, objective: str = "price",
         target_tokens_per_s: float | None = None, gpus_per_node: int = 8, max_gpus: int = 64,
         utilization: float = DEFAULT_UTILIZATION, time_limit_s: float = 1.0, max_step_ms: float | None = None,
         energy: Energy | None = None, limits: Limits | None = None, costs=None) -> Sizing:
    """``max_step_ms`` keeps only layouts whose decode step (the time between two tokens of one
    sequence, at the batch it runs) is at most that many milliseconds; ``costs`` (a RankCosts)
    shares per-rank costs and layouts between calls on the same profile."""
    energy, limits = energy or Energy(), limits or Limits()
    if objective not in SIZE_OBJECTIVES:
        raise InputError(f"objective: unknown {objective!r}; choose one of {', '.join(SIZE_OBJECTIVES)}")
    start = time.perf_counter()
    cands = make_candidates(profile, gpu_types, context, 10**9 if target_tokens_per_s else concurrency, gpus_per_node, max_gpus,
                            utilization, speed_batch=None if target_tokens_per_s else concurrency, objective=objective,
                            owned=limits.owned, costs=costs)
    cands = [c for c in cands if c.cost(objective, energy) != float("inf")]
    if max_step_ms is not None:
        cands = [c for c in cands if c.speed.decode_step_s * 1e3 <= max_step_ms]

    def answer(status, choice=(), alternatives=()):
        value = sum(c.cost(objective, energy) * n for c, n in choice)
        if objective in ("price", "tco"):
            value += sum(price_of(c.gpu, k)[0] or 0 for c, k in added_gpus(choice, limits.owned).values())
        return Sizing(status, objective, tuple(choice), value, tuple(alternatives), context, concurrency,
                      time.perf_counter() - start, len(cands), energy, limits)

    if not cands:
        if objective != "gpus" and not any(_priced(g, objective) for g in gpu_types) and not limits.owned:
            raise InputError(f"gpu-type: none of the GPU types given has a {'hourly' if objective == 'hourly' else 'purchase'} "
                             "price")
        return answer("infeasible")
    alternatives = _alternatives([c for c in cands if not c.owned], concurrency, objective, target_tokens_per_s, max_gpus,
                                 energy)
    if not target_tokens_per_s and not limits.any:
        kept = _undominated(cands, concurrency, objective, energy)
        if (concurrency + 1) * (max_gpus + 1) * len(kept) <= DP_WORK:
            choice = _knapsack(kept, concurrency, objective, max_gpus, energy)
            return answer("infeasible") if choice is None else answer("optimal", choice, alternatives)
    status, choice = _cpsat(cands, concurrency, objective, target_tokens_per_s, max_gpus, limits, energy, time_limit_s)
    return answer(status, choice, alternatives if choice else ())


def _priced(gpu: GpuType, objective: str) -> bool:
    return bool(gpu.price_usd_per_hour if objective == "hourly" else gpu.price_usd)


def _cpsat(cands, concurrency, objective, target, max_gpus, limits: Limits, energy, time_limit_s):
    from planner.search.cp_model import load

    cp_model = load()
    from planner.search.cpsat_run import solve_stage

    m = cp_model.CpModel()
    bound = [min(max_gpus // max(c.gpus, 1), -(-concurrency // c.unit_seqs) + (64 if target else 0)) for c in cands]
    u = [m.new_int_var(0, b, f"u{i}") for i, b in enumerate(bound)]

    def total(values):
        return sum(v * x for v, x in zip(values, u, strict=True))

    m.add(total([c.unit_seqs for c in cands]) >= concurrency)
    speed = total([round(c.tokens_per_s) for c in cands])
    if target:
        m.add(speed >= round(target))
    gpus = total([c.gpus for c in cands])
    m.add(gpus <= max_gpus)
    primary = total([_weight(c, objective, energy) for c in cands]) + _limits(m, cands, total, limits, objective, max_gpus)
    status, hint, spent = "optimal", None, 0.0
    for expr, maximize in ((primary, False), (gpus, False), (speed, True)):
        code, solver = solve_stage(m, expr, max(time_limit_s - spent, 0.05), maximize)
        spent += solver.response_proto.deterministic_time
        if code == cp_model.INFEASIBLE:
            return "infeasible", ()
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if hint is None:
                return "unknown", ()
            status = "feasible"
            break
        if code != cp_model.OPTIMAL:
            status = "feasible"
        hint = [solver.value(v) for v in u]
        m.clear_hints()
        for v, h in zip(u, hint, strict=True):
            m.add_hint(v, h)
    return status, tuple((c, h) for c, h in zip(cands, hint, strict=True) if h)


def _limits(m, cands, total, limits: Limits, objective: str, max_gpus: int):
    """Add the host, power, rack and owned-GPU constraints; return the objective's extra term (the
    GPUs bought to fill free slots of one's own hosts)."""
    if limits.max_hosts:
        m.add(total([c.hosts for c in cands]) <= limits.max_hosts)
    if limits.max_power_w:
        m.add(total([round(c.power_w) for c in cands]) <= round(limits.max_power_w))
    if limits.max_rack_units:
        m.add(total([c.rack_units for c in cands]) <= limits.max_rack_units)
    extra = 0
    for name, have in limits.owned.items():
        own = [c for c in cands if c.owned and c.gpu.name == name]
        if not own:
            continue
        m.add(total([c.hosts if c in own else 0 for c in cands]) <= owned_hosts(own[0].offer, have))
        added = m.new_int_var(0, max_gpus, f"added_{name}")
        m.add(added >= total([c.gpus if c in own else 0 for c in cands]) - have)
        if objective == "hourly":
            m.add(added == 0)
        elif objective in ("price", "tco"):
            extra += round(own[0].gpu.price_usd or 0) * added
    return extra


def _undominated(cands: list[Candidate], concurrency: int, objective: str, energy: Energy) -> list[Candidate]:
    """Candidates no other one beats or ties on every count: cost, GPUs, sequences held (up to
    the concurrency asked) and decode throughput. Swapping a dominated unit for its dominator
    never worsens an answer, so the optimum is among these. In sorted order a dominator comes
    first, so each candidate is compared with the kept ones only."""
    def key(c: Candidate) -> tuple[int, int, int, int]:
        return (_weight(c, objective, energy), c.gpus, -min(c.unit_seqs, concurrency), -round(c.tokens_per_s))

    kept: list[tuple[tuple[int, int, int, int], Candidate]] = []
    for c in sorted(cands, key=key):
        k = key(c)
        if not any(all(a <= b for a, b in zip(other, k, strict=True)) for other, _ in kept):
            kept.append((k, c))
    return [c for _, c in kept]


def _knapsack(cands: list[Candidate], concurrency: int, objective: str, max_gpus: int, energy: Energy):
    """The exact lexicographic optimum (cost, then GPUs, then most decode throughput) of unit
    counts serving ``concurrency`` sequences on at most ``max_gpus`` GPUs: a dynamic program
    over (sequences held, capped at the concurrency; GPUs used), each state keeping its least
    (cost, -throughput). Every unit has at least one GPU, so states are final in order of GPUs.
    None when nothing serves."""
    best: dict[tuple[int, int], tuple[int, int]] = {(0, 0): (0, 0)}
    parent: dict[tuple[int, int], tuple[tuple[int, int], int]] = {}
    terms = [(min(c.unit_seqs, concurrency), c.gpus, _weight(c, objective, energy), round(c.tokens_per_s)) for c in cands]
    by_gpus: dict[int, list[tuple[int, int]]] = {0: [(0, 0)]}
    for g in range(max_gpus + 1):
        for state in sorted(by_gpus.pop(g, [])):
            seqs, _ = state
            if seqs >= concurrency:
                continue
            cost, neg_speed = best[state]
            for k, (s_c, g_c, w_c, v_c) in enumerate(terms):
                if g + g_c > max_gpus:
                    continue
                nxt = (min(concurrency, seqs + s_c), g + g_c)
                value = (cost + w_c, neg_speed - v_c)
                old = best.get(nxt)
                if old is None or value < old:
                    if old is None:
                        by_gpus.setdefault(nxt[1], []).append(nxt)
                    best[nxt], parent[nxt] = value, (state, k)
    done = [(best[st][0], st[1], best[st][1], st) for st in best if st[0] >= concurrency]
    if not done:
        return None
    state = min(done)[3]
    counts: dict[int, int] = {}
    while state in parent:
        state, k = parent[state]
        counts[k] = counts.get(k, 0) + 1
    return tuple((cands[k], counts[k]) for k in sorted(counts))


def _alternatives(cands: list[Candidate], concurrency: int, objective: str, target: float | None, max_gpus: int,
                  energy: Energy):
    """Per GPU type, its cheapest single-unit answer (copies of one candidate unit)."""
    best: dict[str, tuple] = {}
    for c in cands:
        n = -(-concurrency // c.unit_seqs)
        if target:
            n = max(n, -(-int(target) // max(int(c.tokens_per_s), 1)))
        if n * c.gpus > max_gpus:
            continue
        key = (c.cost(objective, energy) * n, n * c.gpus, -c.tokens_per_s * n, c, n)
        old = best.get(c.gpu.name)
        if old is None or key[:3] < old[:3]:
            best[c.gpu.name] = key
    return tuple((c, n) for *_, c, n in sorted(best.values(), key=lambda k: (k[0], k[1], k[2], k[3].gpu.name)))


def exhaustive(cands: list[Candidate], concurrency: int, objective: str, max_gpus: int,
               energy: Energy | None = None) -> tuple[float, int] | None:
    """The least (cost, GPUs) over every multiset of units within the GPU budget, by plain
    enumeration (no solver): the check the solver's answer is held to in tests and benchmarks. A
    multiset stops growing once it serves the concurrency (another unit never lowers a positive
    cost); branches already costlier than the best are cut."""
    energy = energy or Energy()
    best: list[tuple[float, int] | None] = [None]

    def walk(start: int, seqs: int, gpus: int, cost: float) -> None:
        if best[0] is not None and cost > best[0][0]:
            return
        if seqs >= concurrency:
            best[0] = min(best[0] or (cost, gpus), (cost, gpus))
            return
        for k in range(start, len(cands)):
            c = cands[k]
            if gpus + c.gpus <= max_gpus:
                walk(k, seqs + c.unit_seqs, gpus + c.gpus, cost + c.cost(objective, energy))

    walk(0, 0, 0, 0.0)
    return best[0]

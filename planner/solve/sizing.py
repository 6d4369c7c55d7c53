"""Which GPUs to buy or rent, how many, and in which vLLM layout, to serve a model.

Candidates: for every GPU type and every tensor-parallel size vLLM accepts (a power of two that
fits in one node and suits the heads), the pipeline depths up to the node budget; each candidate
is one vLLM replica, sized by ``costs/vllm.py``. A replica serves ``seqs`` sequences of the full
context at once (its KV cache tokens // context, at most max_num_seqs); it must hold at least one.

CP-SAT picks replica counts r_c >= 0 of the candidates (several types may mix, as Melange
does for cost) so that
    sum_c r_c seqs_c >= concurrency          every sequence has room for its whole context
    sum_c r_c tokens_per_s_c >= target       when a throughput target is given
    sum_c r_c gpus_c <= max_gpus
minimising the objective (GPU count, purchase USD or USD per hour), then GPUs, then maximising
the roofline decode throughput. Without a throughput target the same optimum comes from a
dynamic program over (sequences held, GPUs used) after dropping candidates another one beats on
every count (``_knapsack``), exact and without a time limit; CP-SAT takes the rest. Exhaustive enumeration on small catalogs gives the same optimum (tests/test_sizing.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog import GpuType
from planner.costs.profile import Profile
from planner.costs.roofline import Speed, replica_speed
from planner.costs.vllm import DEFAULT_MAX_NUM_SEQS, DEFAULT_UTILIZATION, RankCosts, VllmLayout, tp_pp_layouts
from planner.errors import InputError
from planner.hardware.prices import price_of

SIZE_OBJECTIVES = ("gpus", "price", "hourly")
DP_WORK = 4_000_000
"""Largest (concurrency + 1) x (max GPUs + 1) x candidates the exact dynamic program takes on;
beyond it (or with a throughput target) CP-SAT decides."""


@dataclass(frozen=True)
class Candidate:
    layout: VllmLayout
    seqs: int
    """Full-context sequences one replica holds at once."""
    speed: Speed

    @property
    def gpu(self) -> GpuType:
        return self.layout.gpu

    @property
    def gpus(self) -> int:
        return self.layout.gpus

    def cost(self, objective: str) -> float:
        g = self.gpu
        if objective == "gpus":
            return self.gpus
        buy, rent = price_of(g, self.gpus)
        value = buy if objective == "price" else rent
        return float("inf") if value is None else value


@dataclass(frozen=True)
class Sizing:
    status: str
    """optimal | feasible | infeasible"""
    objective: str
    choice: tuple[tuple[Candidate, int], ...]
    """(candidate, replicas) of the answer."""
    objective_value: float
    """The answer's value of the objective: GPUs, USD (price) or USD per hour (hourly)."""
    alternatives: tuple[tuple[Candidate, int], ...]
    """Best answer using each GPU type alone, cheapest first."""
    context: int
    concurrency: int
    solve_seconds: float
    considered: int


def make_candidates(profile: Profile, gpu_types: list[GpuType], context: int, concurrency: int = 1, gpus_per_node: int = 8,
                    max_gpus: int = 64, utilization: float = DEFAULT_UTILIZATION, max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
                    costs: RankCosts | None = None, speed_batch: int | None = None) -> list[Candidate]:
    """Every layout that holds at least one full-context sequence, up to the first pipeline depth
    that holds all ``concurrency`` sequences (deeper ones only cost more GPUs). Speed is taken at
    ``speed_batch`` running sequences (default: as many as the replica holds)."""
    costs = costs or RankCosts(profile)
    out = []
    for gpu in gpu_types:
        for depths in tp_pp_layouts(profile, gpu, max_gpus, gpus_per_node, utilization, max_num_seqs, costs):
            for layout in depths:
                seqs = min(layout.kv_tokens // context, max_num_seqs)
                if seqs >= 1:
                    batch = min(seqs, speed_batch or seqs)
                    out.append(Candidate(layout, seqs, replica_speed(profile, layout, batch, context)))
                    if seqs >= min(concurrency, max_num_seqs):
                        break
    return out


def _weight(c: Candidate, objective: str) -> int:
    """Integer objective coefficient: GPUs, whole USD, or USD/hour in 1/10000."""
    value = c.cost(objective)
    return round(value * (10_000 if objective == "hourly" else 1))


def size(profile: Profile, gpu_types: list[GpuType], context: int, concurrency: int, objective: str = "price",
         target_tokens_per_s: float | None = None, gpus_per_node: int = 8, max_gpus: int = 64,
         utilization: float = DEFAULT_UTILIZATION, time_limit_s: float = 1.0, max_step_ms: float | None = None) -> Sizing:
    """``max_step_ms`` keeps only layouts whose roofline decode step (the time between two tokens
    of one sequence, at the batch it runs) is at most that many milliseconds."""
    import time

    if objective not in SIZE_OBJECTIVES:
        raise InputError(f"objective: unknown {objective!r}; choose one of {', '.join(SIZE_OBJECTIVES)}")
    start = time.perf_counter()
    priced = [g for g in gpu_types if objective == "gpus" or (g.price_usd if objective == "price" else g.price_usd_per_hour)]
    if not priced:
        raise InputError(f"gpu-type: none of the GPU types given has a {'purchase' if objective == 'price' else 'hourly'} price")
    cands = make_candidates(profile, priced, context, 10**9 if target_tokens_per_s else concurrency, gpus_per_node, max_gpus,
                            utilization, speed_batch=None if target_tokens_per_s else concurrency)
    if max_step_ms is not None:
        cands = [c for c in cands if c.speed.decode_step_s * 1e3 <= max_step_ms]
    if not cands:
        return Sizing("infeasible", objective, (), 0.0, (), context, concurrency, time.perf_counter() - start, 0)
    alternatives = _alternatives(cands, concurrency, objective, target_tokens_per_s, max_gpus)
    if not target_tokens_per_s:
        kept = _undominated(cands, concurrency, objective)
        if (concurrency + 1) * (max_gpus + 1) * len(kept) <= DP_WORK:
            choice = _knapsack(kept, concurrency, objective, max_gpus)
            if choice is None:
                return Sizing("infeasible", objective, (), 0.0, (), context, concurrency, time.perf_counter() - start,
                              len(cands))
            value = sum(c.cost(objective) * h for c, h in choice)
            return Sizing("optimal", objective, choice, value, alternatives, context, concurrency,
                          time.perf_counter() - start, len(cands))
    from ortools.sat.python import cp_model

    from planner.solve.cpsat_run import solve_stage

    m = cp_model.CpModel()
    bound = [min(max_gpus // c.gpus, -(-concurrency // c.seqs) + (64 if target_tokens_per_s else 0)) for c in cands]
    r = [m.new_int_var(0, b, f"r{i}") for i, b in enumerate(bound)]
    m.add(sum(c.seqs * v for c, v in zip(cands, r, strict=True)) >= concurrency)
    if target_tokens_per_s:
        m.add(sum(round(c.speed.decode_tokens_per_s) * v for c, v in zip(cands, r, strict=True)) >= round(target_tokens_per_s))
    m.add(sum(c.gpus * v for c, v in zip(cands, r, strict=True)) <= max_gpus)
    gpus = sum(c.gpus * v for c, v in zip(cands, r, strict=True))
    speed = sum(round(c.speed.decode_tokens_per_s) * v for c, v in zip(cands, r, strict=True))
    primary = sum(_weight(c, objective) * v for c, v in zip(cands, r, strict=True))
    status, hint, spent = "optimal", None, 0.0
    for expr, maximize in ((primary, False), (gpus, False), (speed, True)):
        code, solver = solve_stage(m, expr, max(time_limit_s - spent, 0.05), maximize)
        spent += solver.response_proto.deterministic_time
        if code == cp_model.INFEASIBLE:
            return Sizing("infeasible", objective, (), 0.0, (), context, concurrency, time.perf_counter() - start, len(cands))
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if hint is None:
                return Sizing("unknown", objective, (), 0.0, (), context, concurrency, time.perf_counter() - start, len(cands))
            status = "feasible"
            break
        if code != cp_model.OPTIMAL:
            status = "feasible"
        hint = [solver.value(v) for v in r]
        m.clear_hints()
        for v, h in zip(r, hint, strict=True):
            m.add_hint(v, h)
    choice = tuple((c, h) for c, h in zip(cands, hint, strict=True) if h)
    value = sum(c.cost(objective) * h for c, h in choice)
    return Sizing(status, objective, choice, value, alternatives, context, concurrency, time.perf_counter() - start,
                  len(cands))


def _undominated(cands: list[Candidate], concurrency: int, objective: str) -> list[Candidate]:
    """Candidates no other one beats or ties on every count: cost, GPUs, sequences held (up to
    the concurrency asked) and decode throughput. Swapping a dominated replica for its dominator
    never worsens an answer, so the optimum is among these. In sorted order a dominator comes
    first, so each candidate is compared with the kept ones only."""
    def key(c: Candidate) -> tuple[int, int, int, int]:
        return (_weight(c, objective), c.gpus, -min(c.seqs, concurrency), -round(c.speed.decode_tokens_per_s))

    kept: list[tuple[tuple[int, int, int, int], Candidate]] = []
    for c in sorted(cands, key=key):
        k = key(c)
        if not any(all(a <= b for a, b in zip(other, k, strict=True)) for other, _ in kept):
            kept.append((k, c))
    return [c for _, c in kept]


def _knapsack(cands: list[Candidate], concurrency: int, objective: str, max_gpus: int):
    """The exact lexicographic optimum (cost, then GPUs, then most decode throughput) of replica
    counts serving ``concurrency`` sequences on at most ``max_gpus`` GPUs: a dynamic program
    over (sequences held, capped at the concurrency; GPUs used), each state keeping its least
    (cost, -throughput). Every candidate uses at least one GPU, so states are final in order of
    GPUs. None when nothing serves."""
    best: dict[tuple[int, int], tuple[int, int]] = {(0, 0): (0, 0)}
    parent: dict[tuple[int, int], tuple[tuple[int, int], int]] = {}
    terms = [(min(c.seqs, concurrency), c.gpus, _weight(c, objective), round(c.speed.decode_tokens_per_s)) for c in cands]
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


def _alternatives(cands: list[Candidate], concurrency: int, objective: str, target: float | None, max_gpus: int):
    """Per GPU type, its cheapest single-layout answer (replicas of one candidate)."""
    best: dict[str, tuple[float, int, Candidate, int]] = {}
    for c in cands:
        n = -(-concurrency // c.seqs)
        if target:
            n = max(n, -(-int(target) // max(int(c.speed.decode_tokens_per_s), 1)))
        if n * c.gpus > max_gpus:
            continue
        key = (c.cost(objective) * n, n * c.gpus, -c.speed.decode_tokens_per_s * n, c, n)
        old = best.get(c.gpu.name)
        if old is None or key[:3] < old[:3]:
            best[c.gpu.name] = key
    return tuple((c, n) for *_, c, n in sorted(best.values(), key=lambda k: (k[0], k[1], k[2], k[3].gpu.name)))


def exhaustive(cands: list[Candidate], concurrency: int, objective: str, max_gpus: int) -> tuple[float, int] | None:
    """The least (cost, GPUs) over every multiset of replicas within the GPU budget, by plain
    enumeration (no solver): the check CP-SAT's answer is held to in tests and benchmarks. A
    multiset stops growing once it serves the concurrency (another replica never lowers a
    positive cost); branches already costlier than the best are cut."""
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
                walk(k, seqs + c.seqs, gpus + c.gpus, cost + c.cost(objective))

    walk(0, 0, 0, 0.0)
    return best[0]

"""Exact placement when the whole model fits on its GPUs: a search over contiguous segments.

Why: the CP-SAT model (cpsat.py) needs a proof over every GPU's variables, which stops scaling
at a few dozen mixed GPUs. When some plan offloads nothing, the first objective (offload time)
is 0 and the rest of the problem has a structure a direct search solves exactly:

- Every GPU holds one contiguous run (a *segment*) of the sequence items s_0 .. s_{N-1}; pinned
  items add a fixed base to their GPU. A GPU's load is base + sum of (weights + KV) of its
  segment + the largest activation peak among all it holds + its reserve (loads.py's rule).
- Whatever the order of GPUs along the sequence, a GPU that starts at item i should take as many
  items as fit (the *reach*): the rest of the sequence from a later item is a suffix of the rest
  from an earlier one, and every segment of a suffix weighs no more. So a set S of GPUs covers
  the sequence iff f(S) = N, with f(empty) = 0 and f(S) = max over g in S of reach(f(S - g), g).
- GPUs with the same room (capacity limit less reserve, no pinned base) and the same price are
  one *type*; S is a count per type, so 128 GPUs of five types are vectors of five counts.
- The search over those vectors is A*, cheapest first (count, or price then count). Its estimate
  is the fewest more GPUs that could hold what is left: the items left at each type's longest
  segment anywhere, and the items left of each run of identical items (126 decoder layers) at
  the most of them one GPU of the type holds; it never overestimates and drops by at most one
  per GPU taken, so the first cover popped is a least-count one. States that those bounds, or
  the bytes left, rule out are dropped. When GPUs are counted, a state inside the last run of
  identical items is not expanded: the rest of its cover is computed exactly (segment_tail.py:
  GPUs holding run items only, by their run caps, then the few GPU sequences that can hold the
  tail), so the many orders of GPUs along 126 layers are one step.
- For a count, k GPUs cover only if the k with the most room do (swap any GPU for one with at
  least its room and every reach stays or grows), and the top k+1 include the top k, so "the
  top k cover" is monotone in k: the least count is a bisection over k of existence checks
  (farthest reach first), from the k the bytes alone require; the cover found at the least k
  uses all k.
- The utilization stage is a bisection over the threshold u (in 1/UTIL_SCALE): a GPU may hold
  at most floor(u * capacity / UTIL_SCALE) bytes. The lower end starts from the bytes over all
  capacity, the largest item, and the root of the search's own bounds; each step only asks
  whether some cover within the stage-2 optimum exists (farthest reach first); at the least
  such u the least-count search gives the plan. Runs (stage 4) equal the GPUs in use when
  nothing is offloaded, which that last search minimises.

Every answer is therefore proven optimal for the lexicographic objectives of solver.py. The
search stops after a fixed number of expanded states (work, not time). Out of work before the
GPU count (or price) is proven, or when the problem needs offloading or has no GPU, it returns
no plan and CP-SAT takes over; out of work later, it returns its best plan as ``feasible`` with
the certified gap of the stage it could not finish.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from dataclasses import dataclass

from planner.placement.loads import objective_values
from planner.placement.problem import UTIL_SCALE, Problem
from planner.placement.segment_parts import Bound, Sequence, assignment_of
from planner.placement.segment_stages import Stages
from planner.placement.segment_tail import TailCompletion

EXPANSIONS_PER_SECOND = 100_000
"""Work budget: states expanded per second of the caller's time limit (about 0.7 s of one
current core), a count, so the answer never depends on machine load."""


@dataclass(frozen=True)
class SegmentPlan:
    assignment: tuple[int, ...]
    objectives: dict[str, int]
    status: str = "optimal"
    gap: float = 0.0
    """Certified relative gap of the first stage not proven (0.0 when optimal)."""
    unproven: str | None = None
    """That stage: max_utilization, or runs (the GPU count at the proven utilization)."""


def applies(problem: Problem) -> bool:
    """Whether "nothing offloaded" is the same as "every item on a GPU": every item may go to
    some GPU, and sending any item elsewhere costs transfer time (items pinned off the GPUs or
    zero-cost offloads leave the first stage to CP-SAT)."""
    gpus = set(problem.gpu_indices)
    if not gpus:
        return False
    for it, row in zip(problem.items, problem.offload_ns, strict=True):
        if not gpus.intersection(it.allowed):
            return False
        if any(row[d] == 0 for d in it.allowed if d not in gpus):
            return False
    return True


@dataclass(frozen=True)
class _Type:
    members: tuple[int, ...]
    """Device indices, in CUDA order."""
    room: int
    """Largest load one of them may hold at the current threshold."""
    cost: tuple[int, ...]
    pinned: bool


class _Search:
    def __init__(self, problem: Problem, seq: Sequence, max_work: int):
        self.problem, self.seq = problem, seq
        self.work, self.max_work = 0, max_work
        self.free = [g for g in problem.gpu_indices if g not in seq.base]
        self.pinned = [g for g in problem.gpu_indices if g in seq.base]
        self.prices = problem.gpu_prices()
        self._reaches: dict[tuple[int, int], list[int]] = {}
        self.most = max((problem.devices[g].capacity_bytes for g in problem.gpu_indices), default=0)
        """No GPU's segment weighs more than this (``Sequence.fronts`` stops there)."""

    def room(self, g: int, u: int) -> int:
        cap = self.problem.devices[g].capacity_bytes
        return min(cap, u * cap // UTIL_SCALE)

    def types(self, gpus: list[int], u: int, priced: bool) -> list[_Type]:
        """The given free GPUs grouped by room and cost, then each pinned GPU on its own."""
        groups: dict[tuple, list[int]] = {}
        for g in gpus:
            cost = (self.prices[g], 1) if priced else (1,)
            groups.setdefault((self.room(g, u) - self.problem.devices[g].reserve_bytes, cost), []).append(g)
        out = [_Type(tuple(m), self.room(m[0], u), key[1], False) for key, m in groups.items()]
        out.sort(key=lambda t: (-t.room + self.problem.devices[t.members[0]].reserve_bytes, t.cost, t.members))
        zero = (0, 0) if priced else (0,)
        return out + [_Type((g,), self.room(g, u), zero, True) for g in self.pinned]

    def by_room(self, u: int) -> list[int]:
        """Free GPUs, most room first: the k best for any count k are the first k."""
        devs = self.problem.devices
        return sorted(self.free, key=lambda g: (-(self.room(g, u) - devs[g].reserve_bytes), self.prices[g], g))

    def fewest(self, u: int, at_most: int | None = None, quick: bool = False):
        """Least-count cover at threshold u using at most ``at_most`` free GPUs. k GPUs cover
        only if the k with the most room do, and the top k+1 hold the top k, so "the top k
        cover" is monotone in k: the least count is a bisection over k of existence checks
        (each a farthest-reach-first search), from the k that the bytes alone require. The
        cover found at the least k uses all k (fewer would cover with the top ones). With
        ``quick`` only existence is asked, so the one check over all allowed GPUs answers."""
        order = self.by_room(u)
        devs = self.problem.devices
        need = self.seq.prefix[-1] - sum(max(0, self.room(g, u) - devs[g].reserve_bytes - self.seq.base[g][0])
                                         for g in self.pinned)
        have, k = 0, 0
        while k < len(order) and have < need:
            have += max(0, self.room(order[k], u) - devs[order[k]].reserve_bytes)
            k += 1
        last = len(order) if at_most is None else min(at_most, len(order))
        lo = min(k, last)

        def top(count: int):
            return self.cover(self.types(order[:count], u, False), quick=True)

        for count in sorted({lo, min(lo + 1, last)}):  # the bytes' own count usually covers
            found = top(count)
            if found is not None:
                return found
        found = top(last) if last > lo + 1 else None
        if found is None or quick:
            return found
        lo, hi = lo + 2, last  # the least count lies in lo..hi, and the top hi cover
        while lo < hi:
            mid = (lo + hi) // 2
            at_mid = top(mid)
            if at_mid is None:
                lo = mid + 1
            else:
                hi, found = mid, at_mid
        return found

    def reaches(self, t: _Type) -> list[int]:
        """reach(i, t) for every start i, in one sweep: a reach never moves back as i grows.
        Kept per room left after the reserve (and per GPU for a pinned one), which is all a
        reach depends on: the bisections ask for the same rooms again and again."""
        g = t.members[0]
        reserve = self.problem.devices[g].reserve_bytes
        key = (t.room - reserve, g if t.pinned else -1)
        known = self._reaches.get(key)
        if known is None:
            known = self._reaches[key] = self._sweep(t.room, g, reserve)
        return known

    def _sweep(self, room: int, g: int, reserve: int) -> list[int]:
        """Sequence.load's rule for every start i by bisection: items i..i+k fit when
        prefix[i+k+1] + max(activations i..i+k) <= limit + prefix[i] (the left side grows with k,
        ``Sequence.fronts``) and, beside a pinned base's activation, prefix[i+k+1] + base_a <=
        limit + prefix[i] too; the reach is i plus the items both allow (this is the search's
        hottest call: a few C-level bisections per start instead of a Python loop per item)."""
        seq = self.seq
        n, prefix, fronts = seq.n, seq.prefix, seq.fronts(self.most)
        base_w, base_a = seq.base.get(g, (0, 0))
        limit = room - reserve - base_w
        if not base_a:
            return [i + bisect_right(fronts[i], limit + prefix[i]) for i in range(n)]
        return [i + min(bisect_right(fronts[i], limit + prefix[i]),
                        bisect_right(prefix, limit + prefix[i] - base_a, i + 1) - i - 1) for i in range(n)]

    def _bases_fit(self, types: list[_Type]) -> bool:
        """A pinned GPU holds its base whatever else it takes: each must fit its room."""
        devs = self.problem.devices
        return all(not t.pinned or self.seq.load(0, 0, t.members[0], devs[t.members[0]].reserve_bytes) <= t.room
                   for t in types)

    def root_passes(self, types: list[_Type]) -> bool:
        return self.root_count(types) is not None

    def root_count(self, types: list[_Type]) -> int | None:
        """The checks ``cover`` makes before its first step, alone: a lower bound on the free
        GPUs any cover takes, or None when its bounds already rule every cover out."""
        n, devs = self.seq.n, self.problem.devices
        if not self._bases_fit(types):
            return None
        spare = sum(max(0, t.room - devs[t.members[0]].reserve_bytes - self.seq.base.get(t.members[0], (0, 0))[0])
                    * len(t.members) for t in types)
        if spare < self.seq.prefix[n]:
            return None
        reaches = [self.reaches(t) for t in types]
        longest = [max((r - i for i, r in enumerate(row)), default=0) for row in reaches]
        per_run = [[max(0, min(row[a], b) - a) for row in reaches] for a, b in self.seq.runs]
        bounds = [Bound(types, caps) for caps in [longest, *per_run]]
        return self._more_needed(bounds, (0,) * len(types), 0)

    def cover(self, types: list[_Type], bound: int | None = None, quick: bool = False):
        """Least-cost cover: (cost, [(type, start), ...] in sequence order), or None when none
        has a first cost term of at most ``bound``; raises _OutOfWorkError past the work budget.
        ``quick`` answers only whether a cover within ``bound`` exists: farthest reach first, so
        the first cover found is returned whatever its cost (None still means none exists).
        A state is dropped when its remaining GPUs cannot hold the remaining bytes (activations
        ignored) or the remaining items (each GPU at most the longest segment it takes anywhere)."""
        n, prefix, devs = self.seq.n, self.seq.prefix, self.problem.devices
        if not self._bases_fit(types):
            return None
        spare = [max(0, t.room - devs[t.members[0]].reserve_bytes - self.seq.base.get(t.members[0], (0, 0))[0])
                 for t in types]
        start = (0,) * len(types)
        heap = [((0,), (0,) * len(types[0].cost) if types else (0,), 0, start, -1)]
        best: dict[tuple[int, ...], int] = {start: 0}
        parent: dict[tuple[int, ...], tuple[tuple[int, ...], int, int]] = {}
        room_left = {start: sum(s * len(t.members) for s, t in zip(spare, types, strict=True))}
        reaches = [self.reaches(t) for t in types]
        longest = [max((r - i for i, r in enumerate(row)), default=0) for row in reaches]
        per_run = [[max(0, min(row[a], b) - a) for row in reaches] for a, b in self.seq.runs]
        bounds = [Bound(types, caps) for caps in [longest, *per_run]]
        items_left = {start: sum(m * len(t.members) for m, t in zip(longest, types, strict=True))}
        counting = all(t.cost == ((0,) if t.pinned else (1,)) for t in types)
        tail = TailCompletion(self.seq, types, [devs[t.members[0]].reserve_bytes for t in types]) if counting else None
        finished: list[list] = []  # covers completed exactly by ``tail``, pushed with index >= 0
        while heap:
            _, cost, neg_p, state, done = heapq.heappop(heap)
            if done >= 0:
                return cost, finished[done]
            p = -neg_p
            if best.get(state, -1) > p:
                continue
            if p == n:  # pinned GPUs left out hold their base, checked above
                return cost, self._path(parent, state, types)
            self.work += 1
            if self.work > self.max_work:
                raise _OutOfWorkError
            if tail is not None and tail.ok and tail.a <= p <= tail.b:  # the rest exactly, not walked
                found = self._finish(tail, types, parent, state, p, cost, bound)
                if found is not None:
                    finished.append(found[1])
                    heapq.heappush(heap, (((-n,) + found[0]) if quick else found[0], found[0], -n, state, len(finished) - 1))
                continue
            for k, t in enumerate(types):
                if state[k] >= len(t.members):
                    continue
                r = reaches[k][p] if p < n else p
                if r <= p and not t.pinned:
                    continue
                nxt = state[:k] + (state[k] + 1,) + state[k + 1:]
                left, count_left = room_left[state] - spare[k], items_left[state] - longest[k]
                if best.get(nxt, -1) >= r or left < prefix[n] - prefix[r] or count_left < n - r:
                    continue
                more = self._more_needed(bounds, nxt, r)
                if more is None:
                    continue
                best[nxt], room_left[nxt], items_left[nxt] = r, left, count_left
                parent[nxt] = (state, k, p)
                step = tuple(a + b for a, b in zip(cost, t.cost, strict=True))
                guess = (step[0] + more,) if counting else step
                if bound is None or guess[0] <= bound:
                    heapq.heappush(heap, (((-r,) + guess) if quick else guess, step, -r, nxt, -1))
        return None

    def _finish(self, tail: TailCompletion, types, parent, state, p: int, cost, bound: int | None):
        """The cheapest cover through ``state`` at p, finished by ``tail``: (cost, path), or None
        when none finishes it within ``bound``."""
        rest = tail.rest(state, p)
        if rest is None or (bound is not None and cost[0] + rest[0] > bound):
            return None
        path = self._path(parent, state, types) + [(types[k], i) for k, i in tail.segments(p, rest[1], rest[2])]
        return (cost[0] + rest[0],), path

    def _more_needed(self, bounds: list[Bound], state: tuple[int, ...], r: int) -> int | None:
        """Fewest more GPUs that could hold what is left after item r, or None when the GPUs
        left cannot: the items left, each GPU at most its longest segment anywhere; and the
        items left of each run of identical items, each GPU at most as many of them as it can
        hold. A lower bound (A*'s estimate) that drops by at most one per GPU taken, so the
        first cover popped is a least-count one."""
        need = bounds[0].fewest(state, self.seq.n - r)
        for (a, b), bound in zip(self.seq.runs, bounds[1:], strict=True):
            if need is None:
                return None
            if b > r:
                run_need = bound.fewest(state, b - max(a, r))
                need = None if run_need is None else max(need, run_need)
        return need

    @staticmethod
    def _path(parent, state, types):
        out = []
        while state in parent:
            prev, k, i = parent[state]
            out.append((types[k], i))
            state = prev
        out.reverse()
        return out


class _OutOfWorkError(Exception):
    pass


@dataclass(frozen=True)
class SegmentResult:
    plan: SegmentPlan | None
    spent_s: float
    """Share of the time limit the search's work used."""
    no_gpu_plan: bool = False
    """Proven: no plan puts every item on a GPU (so the problem needs offloading)."""


def fits_on_gpus(problem: Problem, time_limit_s: float = 1.0) -> tuple[bool | None, float]:
    """Whether some plan puts every item on a GPU (None: the search does not apply or ran out of
    work), and the share of the time limit it used: one existence check, farthest reach first,
    for callers that need no optimum (the diagnosis's re-plans)."""
    if not applies(problem):
        return None, 0.0
    search = _Search(problem, Sequence(problem), max(1, int(time_limit_s * EXPANSIONS_PER_SECOND)))
    try:
        found = search.fewest(UTIL_SCALE, quick=True) is not None
    except _OutOfWorkError:
        return None, search.work / EXPANSIONS_PER_SECOND
    return found, search.work / EXPANSIONS_PER_SECOND


def solve_segments(problem: Problem, time_limit_s: float = 1.0) -> SegmentResult:
    """The lexicographic optimum when nothing needs offloading. No plan when this search does
    not apply, proves that everything cannot sit on GPUs, or ran out of work before a plan with
    proven offload and GPU count (or price); a plan whose utilization stage ran out of work
    carries the certified gap between its utilization and the least one not ruled out."""
    if not applies(problem):
        return SegmentResult(None, 0.0)
    seq = Sequence(problem)
    search = _Search(problem, seq, max(1, int(time_limit_s * EXPANSIONS_PER_SECOND)))
    stages = Stages(problem, search)
    finished = True
    try:
        stages.run()
    except _OutOfWorkError:
        finished = False
    used = search.work / EXPANSIONS_PER_SECOND
    if stages.best is None:
        return SegmentResult(None, used, finished)
    assignment = assignment_of(problem, seq, stages.best[1])
    values = objective_values(problem, assignment)
    if stages.lo >= stages.hi and stages.settled:
        return SegmentResult(SegmentPlan(assignment, values), used)
    if stages.lo >= stages.hi:  # utilization proven, the GPU count at it not: gap against the root bound
        fewest = stages.count_bound()
        gap = (values["runs"] - fewest) / max(values["runs"], 1) if fewest is not None else 1.0
        return SegmentResult(SegmentPlan(assignment, values, "feasible", gap, "runs"), used)
    gap = (values["max_utilization"] - stages.lo) / max(values["max_utilization"], 1)
    return SegmentResult(SegmentPlan(assignment, values, "feasible", gap, "max_utilization"), used)

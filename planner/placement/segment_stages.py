"""The stages after the first of the segment search (segments.py): the GPU count (or price)
exactly, then the least fullest GPU by bisection over a threshold, keeping the best plan and its
bounds so that running out of work still leaves a plan and a certified gap."""

from __future__ import annotations

from planner.placement.loads import utilization
from planner.placement.problem import UTIL_SCALE, Problem


class Stages:
    """Stage 2 (count or price) exactly, then a binary search on the utilization threshold that
    keeps its best plan and bounds, so running out of work still leaves a plan and a gap."""

    def __init__(self, problem: Problem, search):
        self.problem, self.search = problem, search
        self.best = None
        self.settled = True
        self.lo, self.hi = 0, UTIL_SCALE

    def _solve_at(self, u: int, quick: bool = False):
        s = self.search
        if self.problem.objective == "cost":
            return s.cover(s.types(s.free, u, True), self.bound, quick)
        return s.fewest(u, self.bound, quick)

    def run(self) -> None:
        self.bound = None
        first = self._solve_at(UTIL_SCALE)
        if first is None:
            return
        if self.problem.objective in ("gpus", "cost"):
            self.bound = first[0][0]
        self.best = first
        self.hi = self._max_utilization(first)
        self.lo = self._lower_bound()
        lo, hi = self.lo, self.hi  # tighten the bound first by the search's own root estimate, cheap
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if self._may_fit(mid) else (mid + 1, hi)
        self.lo = lo
        self.settled = True  # self.best is the least-cost cover at self.hi
        while self.lo < self.hi:
            mid = (self.lo + self.hi) // 2
            found = self._solve_at(mid, quick=True)
            if found is None:
                self.lo = mid + 1
            else:
                self.best, self.hi, self.settled = found, min(mid, self._max_utilization(found)), False
        if not self.settled:  # the threshold is proven; now the least count (or price, count) at it
            self.best = self._solve_at(self.hi)
            self.settled = True

    def _max_utilization(self, cover) -> int:
        """The fullest GPU of a cover in 1/UTIL_SCALE, as objective_values measures it (nothing
        is offloaded here, so a GPU holds its base, its segment's bytes, the largest activation
        of the two and its reserve), from the segments alone."""
        seq, devs, path = self.search.seq, self.problem.devices, cover[1]
        taken: dict[int, int] = {}
        held: dict[int, int] = {}
        for k, (t, i) in enumerate(path):
            g = t.members[taken.get(id(t), 0)]
            taken[id(t)] = taken.get(id(t), 0) + 1
            j = path[k + 1][1] if k + 1 < len(path) else seq.n
            held[g] = seq.load(i, j, g, devs[g].reserve_bytes)
        for g in seq.base:
            held.setdefault(g, seq.load(0, 0, g, devs[g].reserve_bytes))
        return max((utilization(load, devs[g].capacity_bytes) for g, load in held.items()), default=0)

    def count_bound(self) -> int | None:
        """A lower bound on the GPUs in use at the proven threshold (pinned ones included)."""
        s = self.search
        gpus = s.by_room(self.hi)[:self.bound] if self.problem.objective == "gpus" else s.free
        free = s.root_count(s.types(gpus, self.hi, False))
        return None if free is None else free + len(s.pinned)

    def _may_fit(self, u: int) -> bool:
        """Whether the root of the search at threshold u passes its bounds (every run of
        identical items, the items and the bytes, within the GPU count allowed): False proves
        that no plan has its fullest GPU at u or below."""
        s = self.search
        gpus = s.by_room(u)[:self.bound] if self.problem.objective == "gpus" else s.free
        types = s.types(gpus, u, self.problem.objective == "cost")
        return s.root_passes(types)

    def _lower_bound(self) -> int:
        """No plan's fullest GPU is below the bytes over all GPU capacity, nor below the largest
        item on the largest GPU."""
        devs, seq = self.problem.devices, self.search.seq
        caps = [devs[g].capacity_bytes for g in self.problem.gpu_indices]
        total = seq.prefix[-1] + sum(w for w, _ in seq.base.values())
        bound = total * UTIL_SCALE // sum(caps)
        smallest_reserve = min(devs[g].reserve_bytes for g in self.problem.gpu_indices)
        largest = max((seq.prefix[k + 1] - seq.prefix[k] + seq.peak(k, k + 1) for k in range(seq.n)), default=0)
        return max(bound, (largest + smallest_reserve) * UTIL_SCALE // max(caps))

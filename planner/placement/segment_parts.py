"""The data the segment search (segments.py) reads: the sequence items as prefix sums and a
range-maximum table, each GPU's pinned base, the runs of identical items, and the count bounds
its A* estimate is made of."""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from operator import add

from planner.placement.problem import Problem
from planner.search.range_max import RangeMax


class Sequence:
    """Prefix sums and a range-maximum table over the sequence items, plus each GPU's base."""

    def __init__(self, problem: Problem):
        items = problem.items
        self.order = [i for i, it in enumerate(items) if it.in_sequence]
        self.n = len(self.order)
        self.prefix = [0]
        for i in self.order:
            self.prefix.append(self.prefix[-1] + items[i].weights_bytes + items[i].kv_bytes)
        self.activations = [items[i].activation_bytes for i in self.order]
        self.acts = RangeMax(self.activations)
        self._fronts: dict[int, list[list[int]]] = {}
        keys = [(items[i].weights_bytes + items[i].kv_bytes, items[i].activation_bytes) for i in self.order]
        self.runs: list[tuple[int, int]] = []
        """(start, end) of each run of two or more identical consecutive sequence items."""
        k = 0
        while k < self.n:
            end = k + 1
            while end < self.n and keys[end] == keys[k]:
                end += 1
            if end - k > 1:
                self.runs.append((k, end))
            k = end
        self.base: dict[int, tuple[int, int]] = {}
        for it in items:
            if not it.in_sequence:
                g = it.allowed[0]
                w, a = self.base.get(g, (0, 0))
                self.base[g] = (w + it.weights_bytes + it.kv_bytes, max(a, it.activation_bytes))

    def fronts(self, most: int) -> list[list[int]]:
        """Per start i: prefix[i+k+1] + the largest activation of items i..i+k, for every k whose
        items weigh at most ``most`` (no GPU holds more), a non-decreasing row, so that how many
        items from i fit a room is one bisection. Built on first use, in C-level passes
        (accumulate, map), once per search."""
        if most not in self._fronts:
            prefix, acts = self.prefix, self.activations
            rows = self._fronts[most] = []
            for i in range(self.n):
                end = bisect_right(prefix, prefix[i] + most, i + 1) - 1  # items i..end-1 may fit, no more
                rows.append(list(map(add, prefix[i + 1:end + 1], accumulate(acts[i:end], max))))
        return self._fronts[most]

    def peak(self, i: int, j: int) -> int:
        return self.acts.peak(i, j)

    def load(self, i: int, j: int, g: int, reserve: int) -> int:
        """Bytes on GPU g holding items i..j-1 of the sequence (and its pinned base)."""
        base_w, base_a = self.base.get(g, (0, 0))
        if j <= i and g not in self.base:
            return 0
        return base_w + self.prefix[j] - self.prefix[i] + max(base_a, self.peak(i, j)) + reserve


class Bound:
    """Each type's most items of some kind (``caps``): the fewest free GPUs left whose caps add
    up to a count, largest first (pinned GPUs left count for nothing)."""

    def __init__(self, types: list, caps: list[int]):
        self.caps = caps
        self.sizes = [len(t.members) for t in types]
        self.pinned = [k for k, t in enumerate(types) if t.pinned and caps[k] > 0]
        self.order = sorted((k for k, t in enumerate(types) if not t.pinned and caps[k] > 0), key=lambda k: -caps[k])

    def fewest(self, state: tuple[int, ...], items: int) -> int | None:
        caps = self.caps
        for k in self.pinned:
            if not state[k]:
                items -= caps[k]
        count = 0
        for k in self.order:
            if items <= 0:
                break
            take = min(self.sizes[k] - state[k], -(-items // caps[k]))
            count += take
            items -= take * caps[k]
        return count if items <= 0 else None


def assignment_of(problem: Problem, seq: Sequence, path) -> tuple[int, ...]:
    """Concrete GPUs for the segments: within a type, lowest CUDA index first."""
    out = [-1] * len(problem.items)
    for it_index, it in enumerate(problem.items):
        if not it.in_sequence:
            out[it_index] = it.allowed[0]
    taken: dict[int, int] = {}
    for k, (t, i) in enumerate(path):
        g = t.members[taken.get(id(t), 0)]
        taken[id(t)] = taken.get(id(t), 0) + 1
        j = path[k + 1][1] if k + 1 < len(path) else seq.n
        for pos in range(i, j):
            out[seq.order[pos]] = g
    return tuple(out)

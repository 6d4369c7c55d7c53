"""The exact rest of a cover once the segment search (segments.py) is inside the last run of
identical items, so that it never walks that run GPU by GPU.

Why: a model is mostly one long run (126 identical decoder layers) followed by a short tail
(final norm, head). Inside the run a GPU of type t holds at most ``cap[t]`` items whatever its
position, so the many orders in which GPUs can share the run are all the same cover; the A*
would still visit each count vector, which is what made proving "no cover with one GPU fewer"
at 64-128 GPUs slow. From a state at position p inside the run (counts s used), every cover
ends with GPUs that hold run items only (the *middle*), then the GPUs whose segments touch the
tail, in some order. Filled backwards from the end, each taking as much as fits, a tail
sequence covers from its earliest start x (taking more never hurts); so a completion exists
with the tail multiset M iff the middle GPUs left (all of each type, less s and M) hold the x - p
run items before it: sum cap[t] n[t] >= x - p, fewest GPUs first by the largest caps. The
least count over the (few, Pareto-minimal) tail sequences is therefore the exact cost of the
rest, and the A* pushes it as a finished cover instead of expanding the state.

It applies when GPUs are counted (no prices) and none is pinned, and when every tail sequence
reaches the run within ``MAX_TAIL_GPUS`` GPUs; otherwise the search walks on as before.
"""

from __future__ import annotations

MAX_TAIL_GPUS = 3
"""Longest sequence of GPUs enumerated to cover the items after the last run."""


class TailCompletion:
    """Tail options and run caps for one set of GPU types at one threshold."""

    def __init__(self, seq, types: list, reserve: list[int]):
        self.ok = False
        if not seq.runs or any(t.pinned for t in types):
            return
        self.seq = seq
        self.a, self.b = seq.runs[-1]
        self.sizes = [len(t.members) for t in types]
        self.types, self.reserve = types, reserve
        self.rooms = [t.room - r for t, r in zip(types, reserve, strict=True)]
        item = seq.prefix[self.a + 1] - seq.prefix[self.a]
        act = seq.activations[self.a]
        length = self.b - self.a
        self.caps = [max(0, min(length, (room - act) // item if item else length)) if room >= act else 0
                     for room in self.rooms]
        self.options: list[tuple[tuple[int, ...], int, tuple[int, ...]]] = []
        """(tail GPUs per type, earliest start, the types in sequence order)."""
        if not self._enumerate():
            return
        self.by_cap = sorted(range(len(types)), key=lambda k: (-self.caps[k], k))
        self.ok = True

    def _back(self, end: int, k: int) -> int:
        """Earliest start of a segment ending at ``end`` that a GPU of type k holds."""
        t, reserve, i = self.types[k], self.reserve[k], end
        while i > 0 and self.seq.load(i - 1, end, t.members[0], reserve) <= t.room:
            i -= 1
        return i

    def _enumerate(self) -> bool:
        """Every tail sequence, backwards from the end; False when one needs more than
        MAX_TAIL_GPUS GPUs (then the completion is not claimed exact)."""
        n, found = self.seq.n, []
        if self.b == n:
            self.options = [((0,) * len(self.sizes), n, ())]
            return True
        stack = [((0,) * len(self.sizes), n, ())]
        while stack:
            counts, end, order = stack.pop()
            for k, size in enumerate(self.sizes):
                if counts[k] >= size:
                    continue
                start = self._back(end, k)
                if start == end:
                    continue
                nxt = counts[:k] + (counts[k] + 1,) + counts[k + 1:]
                if start <= self.b:
                    found.append((nxt, start, (k, *order)))
                elif len(order) + 1 >= MAX_TAIL_GPUS:
                    return False
                else:
                    stack.append((nxt, start, (k, *order)))
        keep = []
        for m, x, order in sorted(found, key=lambda o: (sum(o[0]), o[1], o[0], o[2])):
            if not any(all(a <= b for a, b in zip(m2, m, strict=True)) and x2 <= x for m2, x2, _ in keep):
                keep.append((m, x, order))
        self.options = keep
        return True

    def rest(self, state: tuple[int, ...], p: int):
        """Fewest more GPUs that finish a cover from position p (a <= p <= b) with ``state``
        used, and how: (count, middle types, tail option); None when none finishes it."""
        best = None
        for m, x, order in self.options:
            left = [size - s - t for size, s, t in zip(self.sizes, state, m, strict=True)]
            if min(left) < 0:
                continue
            need, middle = max(0, x - p), []
            for k in self.by_cap:
                if need <= 0 or not self.caps[k]:
                    break
                take = min(left[k], -(-need // self.caps[k]))
                middle += [k] * take
                need -= take * self.caps[k]
            if need > 0:
                continue
            count = len(middle) + len(order)
            if best is None or count < best[0]:
                best = (count, middle, (m, x, order))
        return best

    def segments(self, p: int, middle: list[int], option) -> list[tuple[int, int]]:
        """(type, start) of the finishing GPUs in sequence order: the middle ones fill p..x
        (the last one partly), then the tail sequence from x."""
        _, x, order = option
        out, pos = [], p
        for k in middle:
            if pos >= x:
                break
            out.append((k, pos))
            pos = min(x, pos + self.caps[k])
        start = max(x, p)
        end = self.seq.n
        tail = []
        for k in reversed(order):  # backwards from the end, as the option was found
            begin = max(self._back(end, k), start)
            tail.append((k, begin))
            end = begin
        return out + tail[::-1]

"""Largest value over any range of a list in O(1) after O(n log n) set-up (a sparse table):
a segment's activation peak, asked for thousands of times by the placement and pipeline searches."""

from __future__ import annotations


class RangeMax:
    """peak(a, b): the largest of values[a:b] (0 when empty)."""

    def __init__(self, values: list[int]):
        self.table = [values]
        span = 1
        while 2 * span <= len(values):
            prev = self.table[-1]
            self.table.append([max(prev[k], prev[k + span]) for k in range(len(prev) - span)])
            span *= 2

    def peak(self, a: int, b: int) -> int:
        if b <= a:
            return 0
        k = (b - a).bit_length() - 1
        return max(self.table[k][a], self.table[k][b - (1 << k)])

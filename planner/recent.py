"""Answers remembered for the last few calls, keyed by an object's identity.

For pure functions of a large frozen object (a model spec, a placement problem) that several
callers ask about in a row: hashing the object itself would cost more than the answer. The
object is held with its answer, so its id cannot be reused while the entry lives, and a new
object, even an equal one, is never served another's answer. Full means cleared: one atomic
step, safe when sweep workers share the memo.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def by_identity(size: int) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorator: remember ``fn(obj, *args)`` for the last ``size`` (obj identity, args) pairs;
    ``args`` must be hashable. The plain function stays reachable as ``__wrapped__``."""
    def wrap(fn: Callable[..., T]) -> Callable[..., T]:
        answers: dict[tuple, tuple[object, T]] = {}

        @functools.wraps(fn)
        def remembered(obj, *args):
            key = (id(obj), *args)
            hit = answers.get(key)
            if hit is not None and hit[0] is obj:
                return hit[1]
            value = fn(obj, *args)
            if len(answers) >= size:
                answers.clear()
            answers[key] = (obj, value)
            return value

        remembered.size = size
        return remembered
    return wrap

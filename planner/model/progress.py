"""A notice on stderr when a first meta build is slow, so a user does not take it for a hang.

A cold build imports torch and transformers, builds the model on the meta device and runs the
measuring forwards: seconds, once per config (the spec is cached after). When that step is still
running after a second, one line says what it is doing, and a second line says when it is done.
Shown where the what-if progress bar is: when stderr is a terminal and not in CI;
``PLANNER_PROGRESS=always|never`` overrides.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

AFTER_S = 1.0


def _wanted(stream) -> bool:
    setting = os.environ.get("PLANNER_PROGRESS", "").lower()
    if setting in ("always", "never"):
        return setting == "always"
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("CI")


@contextlib.contextmanager
def slow_step_notice(what: str, stream=None, after: float = AFTER_S):
    """Say ``what`` is running if it takes longer than ``after`` seconds, and how long it took."""
    stream = stream if stream is not None else sys.stderr
    if not _wanted(stream):
        yield
        return
    start = time.perf_counter()
    shown = threading.Event()

    def show() -> None:
        with contextlib.suppress(OSError, ValueError):
            stream.write(f"planner: {what} ...\n")
            stream.flush()
            shown.set()

    timer = threading.Timer(after, show)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
    if shown.is_set():  # reached only on success: a failure says so in its own line
        with contextlib.suppress(OSError, ValueError):
            stream.write(f"planner: {what}: done in {time.perf_counter() - start:.1f} s\n")
            stream.flush()

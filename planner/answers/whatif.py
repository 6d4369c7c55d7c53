"""``planner whatif``: every point of a what-if file answered, one row each, and the series its
charts draw (computed here, so the plots only draw)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from planner.requests import WhatIfRequest


@dataclass(frozen=True)
class WhatIfAnswer:
    task: str
    points: tuple
    """The points (index, axes, scenario) in file order."""
    rows: tuple[dict, ...]
    """One row per point: ``{"point", "axes", "results"}``."""

    @property
    def misfits(self) -> tuple[int, ...]:
        """Points that do not fit, failed, or were left undecided."""
        return tuple(k for k, r in enumerate(self.results) if r.get("fits") is False or r.get("status") in ("error", "unknown"))

    @property
    def results(self) -> list[dict]:
        return [row.get("results", row) for row in self.rows]

    @property
    def fits(self) -> bool:
        """The one verdict: every point fits (or measures without a yes/no)."""
        return not self.misfits


def answer_whatif(req: WhatIfRequest, on_progress: Callable[[int, int], None] | None = None) -> WhatIfAnswer:
    from planner.errors import InputError
    from planner.whatif.run import preflight, run
    from planner.whatif.schema import load_whatif

    points = load_whatif(req.file, req.max_points)
    task = points[0].scenario.task
    if len({p.scenario.task for p in points}) > 1:
        raise InputError(f"{req.file}: task: a sweep runs one task; sweep the other fields instead")
    for p in points:
        preflight(p)
    return WhatIfAnswer(task, tuple(points), tuple(run(points, req.jobs, on_progress)))

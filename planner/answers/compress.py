"""``planner estimate --mode compression``: a one-shot run's memory, the settings that fit each GPU
asked, and the smallest GPU for every algorithm."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

from planner.costs.compression import CompressionCost, CompressionSetup
from planner.costs.profile import Profile


@dataclass(frozen=True)
class CompressionAnswer:
    model: str
    profile: Profile
    cost: CompressionCost
    recommendations: tuple = ()
    """Recommendation per GPU type asked: the settings that fit, or the leanest that does not."""
    smallest: tuple = ()
    """(algorithm, Recommendation or None): the smallest catalog GPU on which some setting fits."""

    decides: ClassVar[bool] = False
    """A measurement: it reports what is needed and decides no yes/no (the CLI exits 0)."""

    @property
    def fits(self) -> None:
        return None


def compress(model: str, profile: Profile, setup: CompressionSetup, gpu_types=()) -> CompressionAnswer:
    from planner.costs.compression import ALGORITHMS, compression_cost
    from planner.sizing.compression import recommend, smallest_gpu

    cost = compression_cost(profile, setup)
    recs = tuple(recommend(profile, g, setup) for g in gpu_types)
    smallest = tuple((alg, smallest_gpu(profile, replace(setup, algorithm=alg))) for alg in ALGORITHMS)
    return CompressionAnswer(model, profile, cost, recs, smallest)

"""``planner estimate --mode training``: a training step's memory, the GPUs it needs, what lowers its peak."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from planner.costs.profile import Profile
from planner.costs.training import TrainingCost, TrainingSetup


@dataclass(frozen=True)
class TrainingAnswer:
    profile: Profile
    cost: TrainingCost
    hardware: tuple = ()
    """Fewest GPUs per type (TrainingHardware), the types asked or the catalog's."""
    reducers: tuple[tuple[str, int], ...] = ()
    """(flags, peak bytes) of single changes that lower the peak."""
    asked: bool = False
    """Whether the GPU types were named (else the hardware list is the catalog's, cheapest first)."""

    decides: ClassVar[bool] = False
    """A measurement: it reports what is needed and decides no yes/no (the CLI exits 0)."""

    @property
    def fits(self) -> None:
        return None


def train(profile: Profile, setup: TrainingSetup, gpu_types=()) -> TrainingAnswer:
    from planner.costs.training import training_cost
    from planner.sizing.training import peak_reducers, training_hardware

    cost = training_cost(profile, setup)
    hardware = training_hardware(profile, setup, list(gpu_types) or None)
    return TrainingAnswer(profile, cost, tuple(hardware), tuple(peak_reducers(profile, cost)), bool(gpu_types))


"""The fewest GPUs of each type that train a model with a given setup, and the cheapest of them.

Per GPU memory falls with the data-parallel size only where ZeRO partitions something (stage 1
and up), so the count is searched over 1, 2, 4, ... 1024 GPUs (powers of two: the sizes data
parallel training runs at) and the first that fits each card's usable memory is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.catalog import GpuType, gpu_types
from planner.costs.profile import Profile
from planner.costs.training import TrainingSetup, training_cost
from planner.solve.compression_plan import usable

COUNTS = tuple(2**k for k in range(11))


@dataclass(frozen=True)
class TrainingHardware:
    gpu: GpuType
    gpus: int
    gpu_peak_bytes: int

    @property
    def price_usd(self) -> float | None:
        return self.gpu.price_usd * self.gpus if self.gpu.price_usd else None

    @property
    def price_usd_per_hour(self) -> float | None:
        return self.gpu.price_usd_per_hour * self.gpus if self.gpu.price_usd_per_hour else None


def training_hardware(profile: Profile, setup: TrainingSetup, types: list[GpuType] | None = None) -> list[TrainingHardware]:
    """Per GPU type that can, its fewest GPUs; sorted by hourly price, then count."""
    out = []
    for gpu in types or gpu_types():
        room = usable(gpu)
        for n in COUNTS:
            cost = training_cost(profile, replace(setup, gpus=n, gpus_per_node=min(setup.gpus_per_node, n)))
            if cost.gpu_peak_bytes <= room:
                out.append(TrainingHardware(gpu, n, cost.gpu_peak_bytes))
                break
            if setup.zero == 0 and not setup.offload_optimizer:
                break  # nothing is partitioned: more GPUs do not help
    return sorted(out, key=lambda h: (h.price_usd_per_hour or float("inf"), h.gpus, h.gpu.name))

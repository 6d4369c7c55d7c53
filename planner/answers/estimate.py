"""``planner estimate`` (inference): the model's exact memory and, per GPU type asked, how many it needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from planner.catalog import GpuType
from planner.costs.profile import Profile


@dataclass(frozen=True)
class GpuNeed:
    """GPUs of one type that hold the weights and KV cache spread out, each keeping the activation
    peak and its reserve; ``count`` is None when one GPU cannot hold the activation peak."""

    gpu: GpuType
    reserve_bytes: int
    count: int | None


@dataclass(frozen=True)
class Estimate:
    profile: Profile
    needs: tuple[GpuNeed, ...] = ()

    decides: ClassVar[bool] = False
    """A measurement: it reports what is needed and decides no yes/no (the CLI exits 0)."""

    @property
    def fits(self) -> None:
        return None


def gpu_need(profile: Profile, gpu: GpuType) -> GpuNeed:
    from planner.costs.overhead import gpus_needed
    from planner.hardware.inventory import catalog_device

    reserve = catalog_device(gpu).reserve_bytes
    count = gpus_needed(profile.weights_bytes + profile.kv_bytes, profile.activation_peak_bytes, gpu.memory_bytes, reserve)
    return GpuNeed(gpu, reserve, count)


def estimate(profile: Profile, gpus: tuple[GpuType, ...] | list[GpuType] = ()) -> Estimate:
    return Estimate(profile, tuple(gpu_need(profile, g) for g in gpus))

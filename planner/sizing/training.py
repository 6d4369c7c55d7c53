"""The fewest GPUs of each type that train a model with a given setup, and the cheapest of them.

Per GPU memory falls with the data-parallel size only where ZeRO partitions something (stage 1
and up), so the count is searched over 1, 2, 4, ... 1024 GPUs (powers of two: the sizes data
parallel training runs at) and the first that fits each card's usable memory is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.catalog import GpuType, gpu_types
from planner.costs.profile import Profile
from planner.costs.training import TrainingCost, TrainingSetup, training_cost
from planner.flags import flags_text
from planner.hardware.inventory import usable_bytes
from planner.hardware.prices import price_of

COUNTS = tuple(2**k for k in range(11))


@dataclass(frozen=True)
class TrainingHardware:
    gpu: GpuType
    gpus: int
    gpu_peak_bytes: int
    cost: TrainingCost | None = None
    """The setup at this count (its DeepSpeed config is the one to run)."""
    fixes: tuple = ()
    """When ``gpus`` is more than the data-parallel size asked: single changes (``Change``) that
    make the asked size fit this GPU type, each checked by recomputing."""

    @property
    def price_usd(self) -> float | None:
        return price_of(self.gpu, self.gpus)[0]

    @property
    def price_usd_per_hour(self) -> float | None:
        return price_of(self.gpu, self.gpus)[1]


def training_hardware(profile: Profile, setup: TrainingSetup, types: list[GpuType] | None = None) -> list[TrainingHardware]:
    """Per GPU type that can, its fewest GPUs; sorted by hourly price, then count."""
    out = []
    for gpu in types or gpu_types():
        room = usable_bytes(gpu)
        for n in COUNTS:
            cost = training_cost(profile, replace(setup, gpus=n, gpus_per_node=min(setup.gpus_per_node, n)))
            if cost.gpu_peak_bytes <= room:
                fixes = fixes_at(profile, setup, gpu) if n > setup.gpus else ()
                out.append(TrainingHardware(gpu, n, cost.gpu_peak_bytes, cost, fixes))
                break
            if setup.zero == 0 and not setup.offload_optimizer:
                break  # nothing is partitioned: more GPUs do not help
    return sorted(out, key=lambda h: (h.price_usd_per_hour or float("inf"), h.gpus, h.gpu.name))


Change = tuple[tuple[str, object], ...]
"""Settings fields and their new values, in the order a person would type them
(``requests.flags_text`` writes them as flags)."""


def _candidates(setup: TrainingSetup, changes: list[Change]) -> list[tuple[Change, TrainingSetup]]:
    return [(change, replace(setup, **dict(change))) for change in changes]


def fixes_at(profile: Profile, setup: TrainingSetup, gpu: GpuType) -> tuple[Change, ...]:
    """Single changes of the setup that make it fit ``gpu`` at the data-parallel size asked: full
    checkpointing, a higher ZeRO stage, CPU offload, LoRA."""
    changes: list[Change] = []
    if setup.checkpointing != "full":
        changes.append((("checkpointing", "full"),))
    if setup.zero < 3 and setup.gpus > 1:
        changes.append((("zero", 3),))
    if setup.zero >= 1 and not setup.offload_optimizer:
        changes.append((("offload_optimizer", True),))
    if setup.zero == 3 and not setup.offload_params:
        changes.append((("offload_optimizer", True), ("offload_params", True)))
    if not setup.lora_rank:
        changes.append((("lora_rank", 16),))
        changes.append((("lora_rank", 16), ("qlora", True)))
    room = usable_bytes(gpu)
    found: list[Change] = []
    for change, changed in _candidates(setup, changes):
        if any(set(change) >= set(f) for f in found):
            continue  # a smaller change of the same kind already fits
        if training_cost(profile, changed).gpu_peak_bytes <= room:
            found.append(change)
    return tuple(found)


def _forward_changes(s: TrainingSetup) -> list[Change]:
    changes: list[Change] = []
    if s.checkpointing != "full":
        changes.append((("checkpointing", "full"),))
    if s.checkpointing == "none":
        changes.append((("checkpointing", "selective"),))
    if s.micro_batch > 1:
        half = s.micro_batch // 2
        changes.append((("micro_batch", half), ("grad_accum", s.grad_accum * s.micro_batch // half)))
    return changes


def _optimizer_changes(s: TrainingSetup) -> list[Change]:
    changes: list[Change] = []
    if s.optimizer == "adamw" and s.impl != "fused":
        changes.append((("optimizer_impl", "fused"),))
    reset = (("optimizer_impl", "auto"),) if s.optimizer_impl != "auto" else ()
    if s.optimizer == "adamw":
        changes.append((("optimizer", "adamw8bit"), *reset) if reset else (("optimizer", "adamw8bit"),))
    if s.zero == 0 and s.gpus > 1:
        changes.append((("zero", 1), ("optimizer_impl", "auto")) if s.optimizer_impl == "forloop" else (("zero", 1),))
    if s.zero >= 1 and not s.offload_optimizer:
        changes.append((("offload_optimizer", True),))
    return changes


def peak_reducers(profile: Profile, cost: TrainingCost) -> list[tuple[Change, int]]:
    """Single changes that lower the peak of the phase that sets it, as (change, new peak bytes),
    each recomputed; largest saving first."""
    s, phase = cost.setup, cost.peak_phase
    changes = _forward_changes(s) if phase == "forward" else []
    if phase in ("backward", "optimizer step") and s.zero < 2 and s.gpus > 1:
        changes.append((("zero", 2),))
    if phase == "optimizer step":
        changes += _optimizer_changes(s)
    if not s.lora_rank:
        changes.append((("lora_rank", 16),))
    out = []
    for change, changed in _candidates(s, changes):
        peak = training_cost(profile, changed).gpu_peak_bytes
        if peak < cost.gpu_peak_bytes:
            out.append((change, peak))
    return sorted(out, key=lambda x: (x[1], flags_text(x[0])))

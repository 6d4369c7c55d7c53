"""The fewest GPUs of each type that train a model with a given setup, and the cheapest of them.

Per GPU memory falls with the data-parallel size only where ZeRO partitions something (stage 1
and up), so the count is searched over 1, 2, 4, ... 1024 GPUs (powers of two: the sizes data
parallel training runs at) and the first that fits each card's usable memory is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.catalog import GpuType, gpu_types
from planner.costs.overhead import usable_bytes
from planner.costs.profile import Profile
from planner.costs.training import TrainingCost, TrainingSetup, training_cost
from planner.hardware.prices import price_of

COUNTS = tuple(2**k for k in range(11))


@dataclass(frozen=True)
class TrainingHardware:
    gpu: GpuType
    gpus: int
    gpu_peak_bytes: int
    cost: TrainingCost | None = None
    """The setup at this count (its DeepSpeed config is the one to run)."""
    fixes: tuple[str, ...] = ()
    """When ``gpus`` is more than the data-parallel size asked: single changes that make the asked
    size fit this GPU type, each checked by recomputing."""

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


def fixes_at(profile: Profile, setup: TrainingSetup, gpu: GpuType) -> tuple[str, ...]:
    """Single changes of the setup that make it fit ``gpu`` at the data-parallel size asked, as
    the flags that make them: full checkpointing, a higher ZeRO stage, CPU offload, LoRA."""
    candidates: list[tuple[str, TrainingSetup]] = []
    if setup.checkpointing != "full":
        candidates.append(("--checkpointing full", replace(setup, checkpointing="full")))
    if setup.zero < 3 and setup.gpus > 1:
        candidates.append(("--zero 3", replace(setup, zero=3)))
    if setup.zero >= 1 and not setup.offload_optimizer:
        candidates.append(("--offload-optimizer", replace(setup, offload_optimizer=True)))
    if setup.zero == 3 and not setup.offload_params:
        candidates.append(("--offload-optimizer --offload-params",
                           replace(setup, offload_optimizer=True, offload_params=True)))
    if not setup.lora_rank:
        candidates.append(("--lora-rank 16", replace(setup, lora_rank=16)))
        candidates.append(("--lora-rank 16 --qlora", replace(setup, lora_rank=16, qlora=True)))
    room = usable_bytes(gpu)
    found = []
    for flags, changed in candidates:
        if any(set(flags.split()) >= set(f.split()) for f in found):
            continue  # a smaller change of the same kind already fits
        if training_cost(profile, changed).gpu_peak_bytes <= room:
            found.append(flags)
    return tuple(found)


def peak_reducers(profile: Profile, cost: TrainingCost) -> list[tuple[str, int]]:
    """Single changes that lower the peak of the phase that sets it, as (flags, new peak bytes),
    each recomputed; largest saving first."""
    s, phase = cost.setup, cost.peak_phase
    candidates: list[tuple[str, TrainingSetup]] = []
    if phase == "forward":
        if s.checkpointing != "full":
            candidates.append(("--checkpointing full", replace(s, checkpointing="full")))
        if s.checkpointing == "none":
            candidates.append(("--checkpointing selective", replace(s, checkpointing="selective")))
        if s.micro_batch > 1:
            half = s.micro_batch // 2
            candidates.append((f"--batch {half} --grad-accum {s.grad_accum * s.micro_batch // half}",
                               replace(s, micro_batch=half, grad_accum=s.grad_accum * s.micro_batch // half)))
    if phase in ("backward", "optimizer step") and s.zero < 2 and s.gpus > 1:
        candidates.append(("--zero 2", replace(s, zero=2)))
    if phase == "optimizer step":
        if s.optimizer == "adamw" and s.impl != "fused":
            candidates.append(("--optimizer-impl fused", replace(s, optimizer_impl="fused")))
        reset = " --optimizer-impl auto" if s.optimizer_impl != "auto" else ""
        if s.optimizer == "adamw":
            candidates.append(("--optimizer adamw8bit" + reset, replace(s, optimizer="adamw8bit", optimizer_impl="auto")))
        if s.zero == 0 and s.gpus > 1:
            forloop = s.optimizer_impl == "forloop"
            candidates.append(("--zero 1" + (" --optimizer-impl auto" if forloop else ""),
                               replace(s, zero=1, optimizer_impl="auto" if forloop else s.optimizer_impl)))
        if s.zero >= 1 and not s.offload_optimizer:
            candidates.append(("--offload-optimizer", replace(s, offload_optimizer=True)))
    if not s.lora_rank:
        candidates.append(("--lora-rank 16", replace(s, lora_rank=16)))
    out = []
    for flags, changed in candidates:
        peak = training_cost(profile, changed).gpu_peak_bytes
        if peak < cost.gpu_peak_bytes:
            out.append((flags, peak))
    return sorted(out, key=lambda x: (x[1], x[0]))

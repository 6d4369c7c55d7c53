"""Which llm-compressor settings fit a GPU, and the smallest GPU for each algorithm.

Settings are tried from fastest to leanest: decoder-layer subgraphs with the calibration cache on
the GPU, then the cache in CPU RAM, then Hessians offloaded to the CPU, then attention and MLP
as separate subgraphs (``sequential_targets``), then both. The first that fits the GPU (its
memory less the CUDA context and 2% fragmentation) is recommended, always with the asked number
of calibration samples; how many samples' cache would fit on the GPU is reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog import GpuType, gpu_types
from planner.costs.compression import CompressionCost, CompressionSetup, compression_cost
from planner.costs.profile import Profile
from planner.hardware.inventory import usable_bytes

OPTIONS = [  # (granularity, offload_hessians, cache_on_gpu)
    ("layer", False, True), ("layer", False, False), ("layer", True, False), ("sublayer", False, False), ("sublayer", True, False),
]


@dataclass(frozen=True)
class Recommendation:
    gpu: GpuType
    cost: CompressionCost | None
    """The settings that fit, or None when none does."""
    usable_bytes: int
    leanest: CompressionCost
    """The leanest settings, to say by how much they miss."""


CALIBRATION_DATASET = "open_platypus"
"""A calibration set llm-compressor registers by name (its examples use it); any other works too."""


def recommend(profile: Profile, gpu: GpuType, setup: CompressionSetup) -> Recommendation:
    """The first of ``OPTIONS`` (subgraphs, Hessian offload, cache on the GPU) that fits, keeping
    the algorithm, samples and length of ``setup``."""
    from dataclasses import replace

    room = usable_bytes(gpu)
    leanest = None
    for granularity, offload, on_gpu in OPTIONS:
        if offload and setup.algorithm != "sparsegpt":
            continue
        if on_gpu and setup.algorithm == "rtn":
            continue
        cost = compression_cost(profile, replace(setup, sequential_targets=granularity, offload_hessians=offload,
                                                 cache_on_gpu=on_gpu))
        leanest = cost
        if cost.gpu_peak_bytes <= room:
            return Recommendation(gpu, cost, room, cost)
    return Recommendation(gpu, None, room, leanest)


def samples_cached_on_gpu(cost: CompressionCost, room: int) -> int:
    """Most calibration samples whose cache would also fit on the GPU with these settings."""
    if not cost.cache_bytes:
        return 0
    per_sample = cost.cache_bytes // cost.samples
    rest = cost.gpu_peak_bytes - (cost.cache_bytes if cost.cache_on_gpu else 0)
    return max(0, (room - rest) // per_sample)


def smallest_gpu(profile: Profile, setup: CompressionSetup, types: list[GpuType] | None = None):
    """The GPU type with the least memory (then the lowest price) on which some setting fits."""
    ordered = sorted(types or gpu_types(), key=lambda g: (g.memory_bytes, g.price_usd or 0, g.name))
    for gpu in ordered:
        rec = recommend(profile, gpu, setup)
        if rec.cost is not None:
            return rec
    return None


def oneshot_args(model: str, profile: Profile, cost: CompressionCost) -> dict:
    """The keyword arguments of llm-compressor's ``oneshot`` for these settings, as llm-compressor
    0.14 takes them: the recipe as a JSON recipe string (``<name>_stage`` -> ``<group>_modifiers``
    -> modifiers; AWQ followed by the quantization modifier it needs), a registered calibration
    dataset, and the sequential targets (tests/test_compression.py checks every name against the
    recorded release)."""
    import json

    block = next((u.block_class for u in profile.spec.units if u.kind == "decoder_layer"), "")
    family = block.removesuffix("DecoderLayer")
    targets = [block] if cost.granularity == "layer" else [f"{family}Attention", f"{family}MLP"]
    quant = {"targets": ["Linear"], "ignore": ["lm_head"], "scheme": "W4A16"}
    modifiers = {
        "gptq": {"GPTQModifier": quant},
        "sparsegpt": {"SparseGPTModifier": {"sparsity": 0.5, "mask_structure": "2:4", "targets": ["Linear"],
                                            "ignore": ["re:.*lm_head"], "offload_hessians": cost.offload_hessians}},
        "awq": {"AWQModifier": {}, "QuantizationModifier": quant},
        "rtn": {"QuantizationModifier": quant},
    }[cost.algorithm]
    args = {"model": profile.spec.repo_id or model,
            "recipe": json.dumps({f"{cost.algorithm}_stage": {f"{cost.algorithm}_modifiers": modifiers}}),
            "sequential_targets": targets}
    if cost.algorithm != "rtn":
        args.update(dataset=CALIBRATION_DATASET, num_calibration_samples=cost.samples, max_seq_length=cost.seq_len)
    if cost.cache_on_gpu:
        args["sequential_offload_device"] = "cuda"
    return args

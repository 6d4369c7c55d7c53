"""vLLM's memory on each GPU of a tensor x pipeline parallel layout, and the KV cache it gets.

vLLM (v1 ``Worker.determine_available_memory``) profiles one forward pass of
``max_num_batched_tokens`` tokens, then gives the KV cache what is left of its share of the card:

    kv_bytes = total_memory x gpu_memory_utilization - (weights + activation peak + non-torch)

where non-torch memory is what the process holds outside torch's allocator (the CUDA context,
NCCL buffers). The KV cache is cut into blocks of ``block_size`` = 16 tokens; a block of one
layer holds 16 x (K and V of the rank's KV heads) values (MLA: 16 x the 576-value latent), so

    blocks = kv_bytes // (16 x bytes_per_token_per_layer x layers_on_the_rank),
    tokens = blocks x 16   ("GPU KV cache size: N tokens" in vLLM's log),

and a pipeline gets the smallest of its stages' block counts (the engine takes the minimum over
workers). Assumptions, to be checked on a GPU (docs/validation.md): the profile pass's activation
peak is the planner's prefill model at flash attention for max_num_batched_tokens tokens, with
the per-rank part split by tp; the sampler keeps fp32 logits of max_num_seqs rows on the last
stage; NCCL takes NCCL_BYTES per rank when there is more than one; sliding-window layers are
counted as full layers (vLLM's hybrid allocator gives them fewer blocks, so this is conservative).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.catalog import GpuType
from planner.costs.activations import unit_activation_bytes
from planner.costs.kv_cache import VLLM_BLOCK
from planner.costs.parallel import kv_bytes_per_token_rank, pp_partition, shard_fraction, stage_starts, tp_problem
from planner.costs.profile import Profile, vllm_step_workload
from planner.costs.weights import tensor_bytes
from planner.units import DTYPE_BITS, MiB

NCCL_BYTES = 256 * MiB
DEFAULT_UTILIZATION = 0.9
DEFAULT_MAX_NUM_SEQS = 256


def non_torch_bytes(gpu: GpuType, ranks: int) -> int:
    """Memory a vLLM worker holds outside torch's allocator: the CUDA context, and NCCL's buffers
    when the engine has more than one rank (tp x pp > 1)."""
    return gpu.cuda_context_bytes + (NCCL_BYTES if ranks > 1 else 0)


def budget_bytes(gpu: GpuType, utilization: float) -> int:
    """vLLM's share of a GPU: total memory x gpu_memory_utilization."""
    return int(gpu.memory_bytes * utilization)


def sampler_logits_bytes(vocab_size: int, max_num_seqs: int) -> int:
    """The sampler's fp32 logits of max_num_seqs rows, held on the last stage."""
    return max_num_seqs * vocab_size * 4


def default_batched_tokens(gpu_memory_bytes: int) -> int:
    """vLLM's default max_num_batched_tokens for ``vllm serve``: 8192 on cards of 70 GiB or more, else 2048."""
    return 8192 if gpu_memory_bytes >= 70 * 1024**3 else 2048


@dataclass(frozen=True)
class StageMemory:
    """One pipeline stage, per GPU (every tensor-parallel rank holds the same)."""

    units: tuple[str, ...]
    layers: int
    weights_bytes: int
    activation_bytes: int
    non_torch_bytes: int
    budget_bytes: int
    """total memory x gpu_memory_utilization"""
    kv_bytes_per_token: int
    """KV bytes per token over this stage's layers on one rank."""

    @property
    def kv_bytes(self) -> int:
        return self.budget_bytes - self.weights_bytes - self.activation_bytes - self.non_torch_bytes

    @property
    def kv_blocks(self) -> int:
        if self.kv_bytes <= 0:
            return 0
        if not self.kv_bytes_per_token:
            return 10**12
        return self.kv_bytes // (VLLM_BLOCK * self.kv_bytes_per_token)


@dataclass(frozen=True)
class VllmLayout:
    gpu: GpuType
    tp: int
    pp: int
    partition: tuple[int, ...]
    stages: tuple[StageMemory, ...]
    utilization: float
    max_num_batched_tokens: int
    problem: str | None = None
    """Why vLLM would refuse the layout (heads not divisible...), else None."""

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    @property
    def kv_blocks(self) -> int:
        return min(s.kv_blocks for s in self.stages) if self.stages and not self.problem else 0

    @property
    def kv_tokens(self) -> int:
        return self.kv_blocks * VLLM_BLOCK

    def reserve_bytes(self, stage: StageMemory) -> int:
        """What a GPU of ``stage`` holds back from tensors: the share vLLM leaves and its non-torch memory."""
        return self.gpu.memory_bytes - stage.budget_bytes + stage.non_torch_bytes

    def concurrency(self, tokens_per_request: int) -> float:
        """vLLM's "Maximum concurrency for N tokens per request"."""
        return self.kv_tokens / tokens_per_request


class RankCosts:
    """Per-unit bytes one tensor-parallel rank holds, computed once per (tp, batched tokens) and
    reused by every layout: sizing looks at hundreds of layouts of the same model."""

    def __init__(self, profile: Profile):
        self.profile = profile
        self._weights: dict[tuple[int, bool], list[int]] = {}
        self._kv: dict[int, list[int]] = {}
        self._act: dict[tuple[int, int], list[int]] = {}
        self.names = tuple(u.name for u in profile.spec.units)
        self.layer_at = profile.spec.decoder_layers
        self.layer_count = len(self.layer_at)
        self._tp_problem: dict[int, str | None] = {}
        self.layouts: dict[tuple, VllmLayout] = {}
        """vllm_layout's answers by (GPU object, tp, pp, utilization, batched tokens, max seqs): a
        purchase and the rental it is compared with look at the same layouts."""

    def tp_problem(self, tp: int) -> str | None:
        """Why vLLM refuses this tensor-parallel size for the model's attention, or None."""
        if tp not in self._tp_problem:
            self._tp_problem[tp] = tp_problem(self.profile.spec.units, tp, self.layer_at)
        return self._tp_problem[tp]

    def weights(self, tp: int, own_head: bool) -> list[int]:
        key = (tp, own_head)
        if key not in self._weights:
            p = self.profile
            spec, bits = p.spec, DTYPE_BITS[p.dtype]
            tied_head = {name for group in spec.tied_groups for name in group[1:]}
            out = []
            for unit in spec.units:
                vision = unit.tower == "vision"
                total = 0
                for t in unit.tensors:
                    if t.tied_to is not None and own_head and unit.name in tied_head:
                        t = replace(t, tied_to=None)  # the last stage keeps its own copy of a tied head
                    total += int(tensor_bytes(t, bits, p.quant, vision, unit.kind == "head")
                                 * shard_fraction(t, unit, tp, spec.vocab_size))
                out.append(total)
            self._weights[key] = out
        return self._weights[key]

    def kv_per_token(self, tp: int) -> list[int]:
        if tp not in self._kv:
            kv_bits = DTYPE_BITS[self.profile.kv_dtype]
            self._kv[tp] = [kv_bytes_per_token_rank(u.attention, tp, kv_bits) if u.attention and u.attention.causal else 0
                            for u in self.profile.spec.units]
        return self._kv[tp]

    def activation(self, tp: int, batched: int) -> list[int]:
        key = (tp, batched)
        if key not in self._act:
            p = self.profile
            bits = DTYPE_BITS[p.dtype]
            w = vllm_step_workload(p.workload, batched)
            out = []
            for unit in p.spec.units:
                peak = unit_activation_bytes(unit, w, bits, p.spec.vocab_size)
                resident = 2 * batched * unit.hidden_size * bits // 8
                out.append(resident + max(peak - resident, 0) // tp)
            self._act[key] = out
        return self._act[key]


def vllm_layout(profile: Profile, gpu: GpuType, tp: int, pp: int, utilization: float = DEFAULT_UTILIZATION,
                max_num_batched_tokens: int | None = None, max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
                partition: list[int] | None = None, costs: RankCosts | None = None) -> VllmLayout:
    spec = profile.spec
    costs = costs or RankCosts(profile)
    batched = max_num_batched_tokens or default_batched_tokens(gpu.memory_bytes)
    key = (id(gpu), tp, pp, utilization, batched, max_num_seqs)
    if partition is None and key in costs.layouts and costs.layouts[key].gpu is gpu:
        return costs.layouts[key]
    parts = pp_partition(costs.layer_count, pp, partition)
    starts = stage_starts(spec.units, parts, costs.layer_at)
    weights = costs.weights(tp, own_head=pp > 1)
    kv = costs.kv_per_token(tp)
    act = costs.activation(tp, batched)
    non_torch = non_torch_bytes(gpu, tp * pp)
    budget = budget_bytes(gpu, utilization)
    stages = []
    for s in range(pp):
        a, b = starts[s], starts[s + 1]
        peak = max(act[a:b], default=0)
        if s == pp - 1:
            peak = max(peak, sampler_logits_bytes(spec.vocab_size, max_num_seqs))
        stages.append(StageMemory(costs.names[a:b], parts[s], sum(weights[a:b]), peak, non_torch, budget, sum(kv[a:b])))
    problem = costs.tp_problem(tp)
    layout = VllmLayout(gpu, tp, pp, tuple(parts), tuple(stages), utilization, batched, problem)
    if partition is None:
        costs.layouts[key] = layout
    return layout


TP_SIZES = (1, 2, 4, 8, 16)
"""Tensor-parallel sizes tried: vLLM needs the attention heads divisible by tp (powers of two)."""


def tp_pp_layouts(profile: Profile, gpu: GpuType, max_gpus: int, gpus_per_node: int, utilization: float = DEFAULT_UTILIZATION,
                  max_num_seqs: int = DEFAULT_MAX_NUM_SEQS, costs: RankCosts | None = None):
    """For each tensor-parallel size (inside one node, up to ``max_gpus``), the layouts of pipeline
    depth 1, 2, ... while they are valid: the one enumeration of vLLM layouts, shared by sizing
    and capacity. Each item is an iterator, so a consumer can stop a tp's depths early."""
    costs = costs or RankCosts(profile)
    layers = costs.layer_count

    def depths(tp: int):
        for pp in range(1, min(layers, max_gpus // tp) + 1):
            layout = vllm_layout(profile, gpu, tp, pp, utilization, max_num_seqs=max_num_seqs, costs=costs)
            if layout.problem:
                return
            yield layout

    for tp in TP_SIZES:
        if tp > min(gpus_per_node, max_gpus):
            return
        yield depths(tp)

"""The other direction of sizing: given the GPUs you have, the longest context, the most
concurrent sequences and the precisions they can serve with vLLM.

For every layout that fits the GPUs (tp x pp per replica, replicas = GPUs // (tp x pp), tensor
parallel inside a node), with R replicas of T KV tokens each:
- longest context at N sequences: T // ceil(N / R) (each replica holds its share whole), at most
  the model's own limit (model/context_limit.py);
- most sequences at context C: R x min(T // C, max_num_seqs).
The best layout is taken for each question separately, for each precision asked.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog import GpuType
from planner.costs.profile import Profile
from planner.costs.vllm import DEFAULT_MAX_NUM_SEQS, DEFAULT_UTILIZATION, VllmLayout, tp_pp_layouts


@dataclass(frozen=True)
class Capacity:
    label: str
    """The precision, as asked (e.g. "bf16", "fp8 weights + fp8 KV")."""
    profile: Profile | None
    longest: tuple[int, VllmLayout, int] | None
    """(longest context at the asked concurrency, layout, replicas), None when nothing fits."""
    most: tuple[int, VllmLayout, int] | None
    """(most sequences at the asked context, layout, replicas)."""
    refused: str | None = None
    """Why vLLM cannot load this precision here (then ``profile`` is None)."""


def layouts(profile: Profile, gpu: GpuType, count: int, gpus_per_node: int, utilization: float):
    """Every valid layout on ``count`` GPUs that holds KV blocks, with its replica count."""
    for depths in tp_pp_layouts(profile, gpu, count, gpus_per_node, utilization):
        for layout in depths:
            if layout.kv_blocks:
                yield layout, count // layout.gpus


def capacity(label: str, profile: Profile, gpu: GpuType, count: int, context: int, concurrency: int,
             gpus_per_node: int = 8, utilization: float = DEFAULT_UTILIZATION) -> Capacity:
    longest = most = None
    limit = profile.spec.max_model_len or float("inf")  # no engine serves a sequence longer than the model's
    for layout, replicas in layouts(profile, gpu, count, gpus_per_node, utilization):
        per_replica = -(-concurrency // replicas)
        length = int(min(layout.kv_tokens // per_replica, limit)) if per_replica <= DEFAULT_MAX_NUM_SEQS else 0
        if length and (longest is None or (length, -layout.gpus) > (longest[0], -longest[1].gpus)):
            longest = (length, layout, replicas)
        seqs = replicas * min(layout.kv_tokens // context, DEFAULT_MAX_NUM_SEQS)
        if seqs and (most is None or (seqs, -layout.gpus) > (most[0], -most[1].gpus)):
            most = (seqs, layout, replicas)
    return Capacity(label, profile, longest, most)

"""One vLLM pipeline over the GPUs of a cluster whose machines differ: uneven layer partitions
so that every stage keeps the same KV cache room (VLLM_PP_LAYER_PARTITION).

All stages use one tensor-parallel size (vLLM's rule) and each stage is one TP group inside one
machine. For a number of KV blocks B every stage must hold B blocks for its layers:

    weights(stage) + activation peak + non-torch + B x 16 x kv_bytes_per_token(stage) <= total x utilisation

which is linear in the layers a stage takes, so for a fixed stage order filling each stage with
as many consecutive layers as fit, in order, decides whether B is reachable (taking more early
never leaves a later stage worse off). Binary search finds the largest B; every machine order is
tried (a machine's stages stay together, fewer network hops). Exhaustive enumeration of split
points gives the same B on small cases (tests/test_pipeline.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from planner.catalog import GpuType
from planner.costs.kv_cache import VLLM_BLOCK
from planner.costs.parallel import check_tp
from planner.costs.profile import Profile
from planner.costs.vllm import DEFAULT_MAX_NUM_SEQS, DEFAULT_UTILIZATION, NCCL_BYTES, RankCosts, default_batched_tokens
from planner.hardware.topology import Cluster

MAX_ORDERS = 720


@dataclass(frozen=True)
class Stage:
    machine: str
    gpu: GpuType
    first_gpu: int
    """Index of the group's first GPU on its machine."""
    budget_bytes: int
    """total x utilisation - non-torch memory."""
    batched: int


@dataclass(frozen=True)
class PipelinePlan:
    tp: int
    stages: tuple[Stage, ...]
    partition: tuple[int, ...]
    kv_blocks: int
    weights_bytes: tuple[int, ...]
    """Per GPU of each stage."""

    @property
    def kv_tokens(self) -> int:
        return self.kv_blocks * VLLM_BLOCK

    @property
    def gpus(self) -> int:
        return self.tp * len(self.stages)


def _groups(cluster: Cluster, tp: int, utilization: float) -> dict[str, list[Stage]]:
    out = {}
    for node in cluster.nodes:
        if node.count < tp:
            continue
        non_torch = node.gpu.cuda_context_bytes + NCCL_BYTES
        budget = int(node.gpu.memory_bytes * utilization) - non_torch
        out[node.name] = [Stage(node.name, node.gpu, k * tp, budget, default_batched_tokens(node.gpu.memory_bytes))
                          for k in range(node.count // tp)]
    return out


class _Fill:
    """Greedy contiguous fill of stages in a fixed order for a target number of blocks."""

    def __init__(self, profile: Profile, costs: RankCosts, tp: int, stages: list[Stage], max_num_seqs: int):
        units = profile.spec.units
        self.layers = [i for i, u in enumerate(units) if u.kind == "decoder_layer"]
        first, last = self.layers[0], self.layers[-1]
        weights = costs.weights(tp, own_head=len(stages) > 1)
        self.kv = costs.kv_per_token(tp)
        self.w = weights
        self.stages = stages
        self.acts = {b: costs.activation(tp, b) for b in {s.batched for s in stages}}
        self.pre = [i for i in range(len(units)) if i < first]
        self.post = [i for i in range(len(units)) if i > last]
        self.logits = max_num_seqs * profile.spec.vocab_size * 4

    def _fits(self, s: int, idx: list[int], blocks: int, last: bool) -> bool:
        st = self.stages[s]
        act = max((self.acts[st.batched][i] for i in idx), default=0)
        if last:
            act = max(act, self.logits)
        need = sum(self.w[i] for i in idx) + act + blocks * VLLM_BLOCK * sum(self.kv[i] for i in idx)
        return need <= st.budget_bytes

    def partition(self, blocks: int) -> list[int] | None:
        n, k = len(self.layers), len(self.stages)
        if k > n:
            return None
        counts, start = [], 0
        for s in range(k):
            last = s == k - 1
            base = self.pre if s == 0 else []
            take = []
            need_left = k - s - 1  # every later stage keeps at least one layer
            while start + len(take) < n - need_left:
                trial = take + [self.layers[start + len(take)]]
                if not self._fits(s, base + trial + (self.post if last else []), blocks, last):
                    break
                take = trial
            if last and start + len(take) < n:
                return None
            if not take or not self._fits(s, base + take + (self.post if last else []), blocks, last):
                return None
            counts.append(len(take))
            start += len(take)
        return counts


def best_pipeline(profile: Profile, cluster: Cluster, tp: int, utilization: float = DEFAULT_UTILIZATION,
                  max_num_seqs: int = DEFAULT_MAX_NUM_SEQS) -> PipelinePlan | None:
    """The pipeline over every TP group of size ``tp`` in the cluster with the most KV blocks."""
    layers = [u for u in profile.spec.units if u.kind == "decoder_layer"]
    if any(u.attention and check_tp(u.attention, tp) for u in layers):
        return None
    groups = _groups(cluster, tp, utilization)
    if not groups:
        return None
    costs = RankCosts(profile)
    best = None
    for order in itertools.islice(itertools.permutations(sorted(groups)), MAX_ORDERS):
        stages = [st for name in order for st in groups[name]]
        fill = _Fill(profile, costs, tp, stages, max_num_seqs)
        if fill.partition(0) is None:
            continue
        lo, hi = 0, 1
        while fill.partition(hi) is not None:
            lo, hi = hi, hi * 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fill.partition(mid) is not None else (lo, mid)
        parts = fill.partition(lo)
        if best is None or lo > best.kv_blocks:
            w = fill.w
            per_stage, start = [], 0
            for s, count in enumerate(parts):
                idx = (fill.pre if s == 0 else []) + fill.layers[start:start + count] + (fill.post if s == len(parts) - 1 else [])
                per_stage.append(sum(w[i] for i in idx))
                start += count
            best = PipelinePlan(tp, tuple(stages), tuple(parts), lo, tuple(per_stage))
    return best

"""One vLLM pipeline over the GPUs of a cluster whose machines differ: uneven layer partitions
so that every stage keeps the same KV cache room (VLLM_PP_LAYER_PARTITION).

All stages use one tensor-parallel size (vLLM's rule) and each stage is one TP group inside one
machine. For a number of KV blocks B every stage must hold B blocks for its layers:

    weights(stage) + activation peak + non-torch + B x 16 x kv_bytes_per_token(stage) <= total x utilization

which is linear in the layers a stage takes, so for a fixed stage order filling each stage with
as many consecutive layers as fit, in order, decides whether B is reachable (taking more early
never leaves a later stage worse off). The same argument over machines (a machine's stages stay
together, fewer network hops) makes the best order a dynamic program over how many machines of
each kind come first, so every order is covered at 32 machines as at 2. Binary search finds the
largest B. Exhaustive enumeration of orders and split points gives the same B on small cases
(tests/test_pipeline.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.catalog import GpuType
from planner.costs.kv_cache import VLLM_BLOCK
from planner.costs.parallel import layer_groups
from planner.costs.profile import Profile
from planner.costs.vllm import (
    DEFAULT_MAX_NUM_SEQS,
    DEFAULT_UTILIZATION,
    RankCosts,
    budget_bytes,
    default_batched_tokens,
    non_torch_bytes,
    sampler_logits_bytes,
)
from planner.hardware.topology import Cluster
from planner.search.range_max import RangeMax


@dataclass(frozen=True)
class Stage:
    machine: str
    gpu: GpuType
    first_gpu: int
    """Index of the group's first GPU on its machine."""
    budget_bytes: int
    """total x utilization - non-torch memory."""
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
    """The tensor-parallel groups of size ``tp`` each machine offers: ``tp`` consecutive GPUs inside
    one of its islands (hardware/topology.py), never across islands or the network."""
    firsts = [(node, group[0]) for node in cluster.nodes for group in node.host.tp_groups(tp)]
    ranks = tp * len(firsts)  # the engine's world size: NCCL only when it is more than one
    out: dict[str, list[Stage]] = {}
    for node, first in firsts:
        budget = budget_bytes(node.gpu, utilization) - non_torch_bytes(node.gpu, ranks)
        out.setdefault(node.name, []).append(Stage(node.name, node.gpu, first, budget,
                                                   default_batched_tokens(node.gpu.memory_bytes)))
    return out


class _Fill:
    """Greedy contiguous fill of a stage for a target number of KV blocks, in O(log n) per
    stage: prefix sums of weights and KV bytes over the decoder layers and a range-maximum
    table of activation peaks."""

    def __init__(self, profile: Profile, costs: RankCosts, tp: int, multi_stage: bool, batched: set[int],
                 max_num_seqs: int):
        self.w = costs.weights(tp, own_head=multi_stage)
        kv = costs.kv_per_token(tp)
        self.pre, carried, self.post = layer_groups(profile.spec.units, costs.layer_at)  # the stage rule
        self.n = len(carried)
        self.w_sum, self.kv_sum = [0], [0]
        for group in carried:
            self.w_sum.append(self.w_sum[-1] + sum(self.w[i] for i in group))
            self.kv_sum.append(self.kv_sum[-1] + sum(kv[i] for i in group))
        self.ends = {  # (weights, kv per token, activation) of the units before / after the layers
            "pre": (sum(self.w[i] for i in self.pre), sum(kv[i] for i in self.pre)),
            "post": (sum(self.w[i] for i in self.post), sum(kv[i] for i in self.post)),
        }
        self.acts = {b: RangeMax([max(costs.activation(tp, b)[i] for i in group) for group in carried]) for b in batched}
        all_acts = {b: costs.activation(tp, b) for b in batched}
        self.end_acts = {b: (max((all_acts[b][i] for i in self.pre), default=0),
                             max((all_acts[b][i] for i in self.post), default=0)) for b in batched}
        self.logits = sampler_logits_bytes(profile.spec.vocab_size, max_num_seqs)

    def fits(self, st: Stage, a: int, b: int, blocks: int, first: bool, last: bool) -> bool:
        """Layers a..b-1 (and the units before them when first, after them when last) on st."""
        w = self.w_sum[b] - self.w_sum[a]
        kv = self.kv_sum[b] - self.kv_sum[a]
        act = self.acts[st.batched].peak(a, b)
        pre_act, post_act = self.end_acts[st.batched]
        if first:
            w, kv, act = w + self.ends["pre"][0], kv + self.ends["pre"][1], max(act, pre_act)
        if last:
            w, kv, act = w + self.ends["post"][0], kv + self.ends["post"][1], max(act, post_act, self.logits)
        return w + act + blocks * VLLM_BLOCK * kv <= st.budget_bytes

    def stage_end(self, st: Stage, a: int, limit: int, blocks: int, first: bool, last: bool) -> int | None:
        """The most layers from a (up to ``limit``) that st holds; None when not even one.
        The last stage must take every layer left."""
        if last:
            return self.n if self.fits(st, a, self.n, blocks, first, True) else None
        if limit <= a or not self.fits(st, a, a + 1, blocks, first, False):
            return None
        lo, hi = a + 1, limit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            lo, hi = (mid, hi) if self.fits(st, a, mid, blocks, first, False) else (lo, mid - 1)
        return lo


class _Orders:
    """Whether some order of the machines reaches ``blocks``: a dynamic program over how many
    machines of each kind (same GPU type and stage count) come first. A machine's stages take,
    in turn, as many layers as fit while every later stage keeps one; taking more early never
    leaves the rest worse off, so the farthest layer reached by each set of machines decides,
    and every order is covered without enumerating them."""

    def __init__(self, fill: _Fill, groups: dict[str, list[Stage]]):
        self.fill = fill
        kinds: dict[tuple, list[str]] = {}
        for name in sorted(groups):
            first = groups[name][0]
            kinds.setdefault((first.gpu.name, len(groups[name])), []).append(name)
        self.kinds = sorted(kinds.items(), key=lambda kv: kv[1][0])
        self.groups = groups
        self.total = sum(len(v) for v in groups.values())

    def _machine(self, kind: int, a: int, later: int, blocks: int, first: bool) -> int | None:
        """Layer reached by one machine of ``kind`` starting at layer a, ``later`` stages after it."""
        stages = self.groups[self.kinds[kind][1][0]]
        for j, st in enumerate(stages):
            after = later + len(stages) - 1 - j
            end = self.fill.stage_end(st, a, self.fill.n - after, blocks, first and j == 0, after == 0)
            if end is None:
                return None
            a = end
        return a

    def solve(self, blocks: int) -> list[str] | None:
        """A machine order whose fill reaches every layer with ``blocks`` blocks, or None."""
        start = (0,) * len(self.kinds)
        reach = {start: 0}
        parent: dict[tuple[int, ...], tuple[tuple[int, ...], int]] = {}
        frontier = [start]
        for _ in range(sum(len(names) for _, names in self.kinds)):
            nxt_frontier: dict[tuple[int, ...], None] = {}
            for state in frontier:
                used = sum(c * key[1] for c, (key, _) in zip(state, self.kinds, strict=True))
                for k, (key, names) in enumerate(self.kinds):
                    if state[k] >= len(names):
                        continue
                    later = self.total - used - key[1]
                    end = self._machine(k, reach[state], later, blocks, state == start)
                    if end is None:
                        continue
                    nxt = state[:k] + (state[k] + 1,) + state[k + 1:]
                    if end > reach.get(nxt, -1):
                        reach[nxt], parent[nxt] = end, (state, k)
                        nxt_frontier[nxt] = None
            frontier = sorted(nxt_frontier)
        full = tuple(len(names) for _, names in self.kinds)
        if reach.get(full) != self.fill.n:
            return None
        order, state, taken = [], full, [0] * len(self.kinds)
        while state in parent:
            state, k = parent[state]
            order.append(k)
        names = []
        for k in reversed(order):
            names.append(self.kinds[k][1][taken[k]])
            taken[k] += 1
        return names


def best_pipeline(profile: Profile, cluster: Cluster, tp: int, utilization: float = DEFAULT_UTILIZATION,
                  max_num_seqs: int = DEFAULT_MAX_NUM_SEQS) -> PipelinePlan | None:
    """The pipeline over every TP group of size ``tp`` in the cluster with the most KV blocks."""
    costs = RankCosts(profile)
    if costs.tp_problem(tp):
        return None
    groups = _groups(cluster, tp, utilization)
    if not groups:
        return None
    stage_count = sum(len(v) for v in groups.values())
    if stage_count > costs.layer_count:
        return None
    fill = _Fill(profile, costs, tp, stage_count > 1, {st.batched for v in groups.values() for st in v}, max_num_seqs)
    orders = _Orders(fill, groups)
    if orders.solve(0) is None:
        return None
    lo, hi = 0, 1
    while orders.solve(hi) is not None:
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if orders.solve(mid) is not None else (lo, mid)
    stages = [st for name in orders.solve(lo) for st in groups[name]]
    return _plan(fill, tp, stages, lo)


def _plan(fill: _Fill, tp: int, stages: list[Stage], blocks: int) -> PipelinePlan:
    parts, weights, a = [], [], 0
    for s, st in enumerate(stages):
        last = s == len(stages) - 1
        end = fill.stage_end(st, a, fill.n - (len(stages) - 1 - s), blocks, s == 0, last)
        w = fill.w_sum[end] - fill.w_sum[a]
        w += (fill.ends["pre"][0] if s == 0 else 0) + (fill.ends["post"][0] if last else 0)
        parts.append(end - a)
        weights.append(w)
        a = end
    return PipelinePlan(tp, tuple(stages), tuple(parts), blocks, tuple(weights))

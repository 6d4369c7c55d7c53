"""Serving speed of a vLLM replica: a roofline per pipeline stage plus the communication it waits on.

Per stage and forward step of b sequences:
    t_s(b) = max(bytes read / (HBM x hbm_efficiency), 2 x active params x b / (peak x compute_efficiency))
             + 2 x layers_s x allreduce(tp, b x hidden x 2 B)          (tensor parallel, alpha-beta)
             + step_overhead                                            (scheduling, sampling, launches)
The bytes read are the stage's weights (MoE: only the experts b tokens route to, 1 - (1 - k/E)^b of
them under uniform routing) plus the KV cache of its sequences. Pipeline parallelism runs
m = min(batch, pp) micro-batches of b = batch / m: a token of one micro-batch needs every stage in
turn plus the hops between them (over the GPU link inside a host, over the network between hosts),
and each stage serves all m micro-batches, so one round takes
    cycle = max(sum_s t_s(b) + hops, m x max_s t_s(b))
and a replica decodes batch / cycle tokens per second (the time between two tokens of a sequence
is the cycle). ``bound_tokens_per_s`` is the same formula without any latency term or overhead: an
upper bound. Prefill pushes chunks of max_num_batched_tokens through the stages at the compute
roofline. The efficiencies, overhead and link costs are in ``catalogs/speed_model.yaml``, fitted
to published runs where it says so (docs/validation.md); attention FLOPs are left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import repeat

from planner.costs.comm import SpeedModel, speed_model
from planner.costs.profile import Profile
from planner.costs.vllm import VllmLayout

ACTIVATION_BYTES = 2
"""bf16/fp16 hidden states: what an all-reduce or a pipeline hop carries per value."""


@dataclass(frozen=True)
class Fabric:
    """Where a replica's GPUs sit: the link between GPUs of one host, the network between hosts,
    and how many hosts one replica spans (its stages are split over them in order)."""

    link: str
    network: str = "ethernet-100g"
    nic_bytes_per_s: float = 12.5e9
    hosts: int = 1
    between: str | None = None
    """The link between two islands of a host (hardware/topology.py), when stages cross one."""
    island_hops: int = 0
    """Pipeline hops inside a host that cross from one island to another (over ``between``)."""


def default_fabric(gpu) -> Fabric:
    """One host, GPUs on the card's own interconnect (gpus.yaml)."""
    from planner.hardware.topology import gpu_link_kind

    return Fabric(gpu_link_kind(gpu))


@dataclass(frozen=True)
class Speed:
    batch: int
    decode_step_s: float
    """Time between two tokens of one sequence (one pipeline round)."""
    decode_tokens_per_s: float
    prefill_tokens_per_s: float
    bound_tokens_per_s: float = 0.0
    """The roofline alone (no latency, no overhead): no engine decodes faster."""
    calibrated: bool = False
    """Every constant this figure used was fitted to published runs (speed_model.yaml)."""
    comm_s: float = 0.0
    """Of one round, the time spent in all-reduces and pipeline hops."""

    def usd_per_million_tokens(self, usd_per_hour: float) -> float:
        return usd_per_hour / 3600 / self.decode_tokens_per_s * 1e6 if self.decode_tokens_per_s else float("inf")

    @property
    def label(self) -> str:
        return speed_label(self.calibrated)


def speed_label(calibrated: bool) -> str:
    """How an answer names its speed: fitted to published runs, or built on default constants."""
    return "calibrated" if calibrated else "uncalibrated estimate"


def expert_share(profile: Profile, tokens: int) -> float:
    """The share of a layer's routed experts that ``tokens`` tokens reach, each picking top_k of
    E uniformly: 1 - (1 - k/E)^tokens (the expected count of distinct experts, over E)."""
    mlp = profile.routed_mlp
    if mlp is None:
        return 1.0
    k = min(max(mlp.experts_per_token, 1), mlp.experts)
    return 1.0 - (1.0 - k / mlp.experts) ** max(tokens, 1)


class _Stages:
    """Per-stage times of one layout on one fabric under one speed model."""

    def __init__(self, profile: Profile, layout: VllmLayout, fabric: Fabric, model: SpeedModel):
        self.profile, self.layout, self.fabric, self.model = profile, layout, fabric, model
        gpu = layout.gpu
        fp8 = profile.quant is not None and profile.quant.name.startswith("fp8") and gpu.fp8_tflops
        self.peak = (gpu.fp8_tflops if fp8 else gpu.bf16_tflops) * 1e12
        self.hbm = gpu.hbm_gb_per_s * 1e9
        self.bytes_per_param = profile.weights_bytes / max(profile.parameters, 1)
        self.link = model.link(fabric.link)
        self.network = model.network(fabric.network)
        self.between = model.link(fabric.between) if fabric.island_hops else None
        self.hidden = profile.spec.hidden_size
        if profile.routed_mlp:
            routed = profile.routed_expert_bytes
            self.experts = [sum(map(routed.get, st.units, repeat(0))) / layout.tp for st in layout.stages]
        else:
            self.experts = [0] * len(layout.stages)

    def _weights_read(self, s: int, tokens: int) -> float:
        st = self.layout.stages[s]
        if not self.experts[s]:
            return st.weights_bytes
        return st.weights_bytes - self.experts[s] * (1 - expert_share(self.profile, tokens))

    def decode(self, b: int, context: int, exact: bool = True) -> list[float]:
        """Each stage's time for one decode step of ``b`` sequences; ``exact=False`` is the bare roofline."""
        m, tp, out = self.model, self.layout.tp, []
        hbm, flops = self.hbm * m.hbm_efficiency, self.peak * m.compute_efficiency
        per_layer = 2 * self.link.allreduce_s(tp, b * self.hidden * ACTIVATION_BYTES) if exact else 0.0
        overhead = m.step_overhead_s if exact else 0.0
        for s, st in enumerate(self.layout.stages):
            weights = self._weights_read(s, b)
            read = weights + b * context * st.kv_bytes_per_token
            compute = 2 * (weights / self.bytes_per_param) * b
            out.append(max(read / hbm, compute / flops) + st.layers * per_layer + overhead)
        return out

    def forward(self, tokens: int) -> list[float]:
        """Each stage's time for one prefill forward of ``tokens`` tokens (compute roofline)."""
        m, tp = self.model, self.layout.tp
        return [2 * (st.weights_bytes / self.bytes_per_param) * tokens / (self.peak * m.compute_efficiency)
                + 2 * st.layers * self.link.allreduce_s(tp, tokens * self.hidden * ACTIVATION_BYTES) + m.step_overhead_s
                for st in self.layout.stages]

    def hops_s(self, b: int) -> float:
        """The pipeline hops of one token round: hidden states and residual of ``b`` sequences."""
        nbytes = 2 * b * self.hidden * ACTIVATION_BYTES
        cross = min(self.fabric.hosts, self.layout.pp) - 1
        islands = self.fabric.island_hops
        inside = self.layout.pp - 1 - cross - islands
        between = islands * self.between.allreduce_s(2, nbytes) if islands else 0.0
        return cross * self.network.hop_s(nbytes, self.fabric.nic_bytes_per_s) + inside * self.link.allreduce_s(2, nbytes) + between

    def calibrated(self) -> bool:
        one_gpu = self.layout.tp == 1 and self.layout.pp == 1
        tp_ok = one_gpu or self.link.calibrated is not None
        hosts_ok = self.fabric.hosts <= 1 or self.network.calibrated is not None
        islands_ok = not self.fabric.island_hops or self.between.calibrated is not None
        return self.model.calibrated is not None and tp_ok and hosts_ok and islands_ok


def replica_speed(profile: Profile, layout: VllmLayout, batch: int, context: int, fabric: Fabric | None = None,
                  model: SpeedModel | None = None) -> Speed:
    """Decode and prefill speed of one replica running ``batch`` sequences of ``context`` tokens."""
    stages = _Stages(profile, layout, fabric or default_fabric(layout.gpu), model or speed_model())
    m = max(1, min(batch, layout.pp))
    b = math.ceil(batch / m)
    times = stages.decode(b, context)
    hops = stages.hops_s(b)
    cycle = max(sum(times) + hops, m * max(times))
    bare = stages.decode(b, context, exact=False)
    bound = batch / max(sum(bare), m * max(bare))
    comm = 2 * sum(st.layers for st in layout.stages) * stages.link.allreduce_s(layout.tp, b * stages.hidden * ACTIVATION_BYTES) + hops
    chunk = max(layout.max_num_batched_tokens, 1)
    prefill = chunk / max(stages.forward(chunk))
    return Speed(batch, cycle, batch / cycle, prefill, bound, stages.calibrated(), comm)


def request_latency_s(profile: Profile, layout: VllmLayout, batch: int, prompt: int, output: int,
                      fabric: Fabric | None = None, model: SpeedModel | None = None) -> float:
    """End-to-end time of ``batch`` requests of ``prompt`` tokens in and ``output`` out, served
    together: one prefill forward of the whole batch, then output - 1 decode rounds at the mean
    context. What latency benchmarks (NeMo / TensorRT-LLM tables) report."""
    stages = _Stages(profile, layout, fabric or default_fabric(layout.gpu), model or speed_model())
    prefill = sum(stages.forward(batch * prompt)) + stages.hops_s(batch * prompt)
    if output <= 1:
        return prefill
    speed = replica_speed(profile, layout, batch, prompt + output // 2, fabric, model)
    return prefill + (output - 1) * speed.decode_step_s

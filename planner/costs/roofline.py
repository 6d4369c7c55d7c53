"""Roofline speed of a vLLM replica: what the hardware allows, not a benchmark.

Decode: each step reads every weight a rank holds once (MoE: only the experts the batch routes
to, min(1, batch x top_k / experts) of them) plus the KV cache of every running sequence, at
HBM_EFFICIENCY of the card's bandwidth, or is bound by 2 x active parameters x batch FLOPs at
COMPUTE_EFFICIENCY of its dense bf16 (fp8 for fp8 weights) peak, whichever is slower; tensor
parallelism adds two all-reduces of batch x hidden values per layer over the card's interconnect.
Pipeline stages run one after another for one token (latency adds up) while different batches
overlap (throughput follows the slowest stage). Prefill: 2 x active parameters FLOPs per prompt
token at the same compute efficiency. The efficiencies are assumptions, stated so they can be
replaced by measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.costs.profile import Profile
from planner.costs.vllm import VllmLayout

HBM_EFFICIENCY = 0.8
COMPUTE_EFFICIENCY = 0.5


@dataclass(frozen=True)
class Speed:
    batch: int
    decode_step_s: float
    """Time of one decode step for the whole batch (the per-token latency of each sequence)."""
    decode_tokens_per_s: float
    prefill_tokens_per_s: float

    def usd_per_million_tokens(self, usd_per_hour: float) -> float:
        return usd_per_hour / 3600 / self.decode_tokens_per_s * 1e6 if self.decode_tokens_per_s else float("inf")


def _expert_share(profile: Profile, batch: int) -> float:
    mlp = next((u.mlp for u in profile.spec.units if u.mlp and u.mlp.experts), None)
    if mlp is None:
        return 1.0
    return min(1.0, batch * max(mlp.experts_per_token, 1) / mlp.experts)


def replica_speed(profile: Profile, layout: VllmLayout, batch: int, context: int) -> Speed:
    """Roofline decode and prefill speed of one replica running ``batch`` sequences of ``context`` tokens."""
    gpu = layout.gpu
    fp8 = profile.quant is not None and profile.quant.name.startswith("fp8") and gpu.fp8_tflops
    flops_per_s = (gpu.fp8_tflops if fp8 else gpu.bf16_tflops) * 1e12 * COMPUTE_EFFICIENCY
    bw = gpu.hbm_gb_per_s * 1e9 * HBM_EFFICIENCY
    bytes_per_param = profile.weights_bytes / max(profile.parameters, 1)
    share = _expert_share(profile, batch)
    stage_times, prefill = [], []
    for st in layout.stages:
        experts = sum(profile.routed_expert_bytes[name] for name in st.units) / layout.tp
        weights = st.weights_bytes - experts * (1 - share)
        params = weights / bytes_per_param
        read = weights + batch * context * st.kv_bytes_per_token
        comm = 0.0
        if layout.tp > 1:
            volume = 2 * st.layers * 2 * (layout.tp - 1) / layout.tp * batch * profile.spec.hidden_size * 2
            comm = volume / (gpu.interconnect_gb_per_s * 1e9)
        stage_times.append(max(read / bw, 2 * params * batch / flops_per_s) + comm)
        prefill.append(2 * (st.weights_bytes / bytes_per_param) / flops_per_s)
    step = sum(stage_times)
    return Speed(batch, step, batch / max(stage_times), 1 / max(prefill))

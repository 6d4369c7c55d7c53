"""The worked answers of docs/sizing.md, recomputed: if a number there changes, this fails."""

from __future__ import annotations

import pytest

from planner import profile
from planner.catalog import find_gpu
from planner.sizing.fleet import size


def per_type(model, context, concurrency, types, objective="gpus", **workload):
    answer = size(profile(model, engine="vllm", **workload), [find_gpu(t) for t in types], context, concurrency, objective,
                  max_gpus=32)
    assert answer.status == "optimal"
    return answer, {c.gpu.name: (n * c.gpus, round(c.cost(objective) * n, 2)) for c, n in answer.alternatives}


def test_llama_70b_32k_16_sequences_to_rent():
    """Rented as whole instances (hosts.yaml): MI300X has none listed, so 2 GPUs at the 2.50 USD/h
    marketplace rate; A100-80GB only as Lambda's 8-GPU instance (14.32); L40S cheapest as 8
    single-GPU g6e.xlarge (8 x 1.861), a pipeline over the network; H100 as 5 of Lambda's 1-GPU
    instances (5 x 3.29); H200 only as the 8-GPU p5e.48xlarge (63.30)."""
    answer, alts = per_type("Llama-3.1-70B", 32768, 16, ["H100", "A100-80GB", "H200", "MI300X", "L40S"], "hourly", dtype="bf16")
    assert [(c.offer.name, c.gpus, n) for c, n in answer.choice] == [("2 x MI300X (marketplace)", 2, 1)]
    assert answer.objective_value == pytest.approx(5.0)
    assert alts == {"MI300X": (2, 5.0), "A100-80GB": (8, 14.32), "L40S": (8, 14.89), "H100-SXM": (5, 16.45),
                    "H200": (8, 63.3)}


@pytest.mark.parametrize("quant, expected", [
    ("none", {"H100-SXM": 2, "A100-80GB": 2, "L40S": 4, "RTX-4090": 8}),
    ("int8", {"H100-SXM": 2, "A100-80GB": 2, "L40S": 2, "RTX-4090": 4}),
    ("awq", {"H100-SXM": 1, "A100-80GB": 1, "L40S": 2, "RTX-4090": 3}),
])
def test_llava_video_72b_gpu_counts(quant, expected):
    _, alts = per_type("LLaVA-Video-72B-Qwen2", 8192, 1, ["H100", "A100-80GB", "L40S", "RTX4090"], dtype="fp16", quant=quant)
    assert {k: v[0] for k, v in alts.items()} == expected


def test_deepseek_r1_fp8_on_h100_h200_mi300x():
    _, alts = per_type("DeepSeek-R1", 32768, 4, ["H100", "H200", "MI300X"])
    assert {k: v[0] for k, v in alts.items()} == {"MI300X": 4, "H200": 6, "H100-SXM": 11}


def test_llama3_8b_on_consumer_cards():
    """Bought with their host: two cards in a 2-slot workstation (2,500 USD), T4s only in a PCIe
    server (the 4-slot one, 14,000 USD): 2 x 900 + 2,500; 2 x 1,800 + 2,500; 2 x 1,200 + 14,000."""
    answer, alts = per_type("Meta-Llama-3-8B", 8192, 8, ["RTX4090", "RTX3090", "T4"], "price")
    assert alts == {"RTX-3090": (2, 4300), "RTX-4090": (2, 6100), "T4": (2, 16400)}


def test_default_inference_keeps_the_last_positions_logits():
    """A prompt-only estimate keeps one position of logits (what generate and serving keep);
    --logits all is the plain forward: per extra position the head holds its input row (hidden
    4096) and a row of logits (vocab 128,256), both bf16 (costs/activations.py)."""
    from planner import profile

    last = profile("Meta-Llama-3-8B", dtype="bf16", batch=8, prompt_tokens=4096)
    every = profile("Meta-Llama-3-8B", dtype="bf16", batch=8, prompt_tokens=4096, logits="all")
    head_last = next(u.activation_peak_bytes for u in last.units if u.name == "lm_head")
    head_all = next(u.activation_peak_bytes for u in every.units if u.name == "lm_head")
    assert head_all - head_last == 8 * (4096 - 1) * (128256 + 4096) * 2


def test_engine_vllm_estimate_uses_the_chunked_prefill_step_that_size_uses():
    """With --engine vllm a layer's activation peak is that of one chunked-prefill step (at most
    8192 batched tokens, flash attention): 8 x 32k tokens cost what 8192 do, and the same figure
    as the per-rank activation sizing computes at tp 1."""
    from planner import profile
    from planner.costs.vllm import RankCosts

    big = profile("Llama-3.1-70B", engine="vllm", batch=8, prompt_tokens=32768)
    chunk = profile("Llama-3.1-70B", engine="vllm", batch=1, prompt_tokens=8192)
    hf = profile("Llama-3.1-70B", engine="hf", batch=8, prompt_tokens=32768)
    layer = [k for k, u in enumerate(big.units) if u.name == "model.layers.1"][0]
    assert big.units[layer].activation_peak_bytes == chunk.units[layer].activation_peak_bytes
    assert big.units[layer].activation_peak_bytes == RankCosts(big).activation(1, 8192)[layer]
    assert hf.units[layer].activation_peak_bytes > 20 * big.units[layer].activation_peak_bytes

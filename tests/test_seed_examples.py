"""The seeds' rules of thumb next to the planner's exact figures (see docs/validation.md)."""

from __future__ import annotations

import pytest

import planner
from planner.costs.quant import make_scheme, quantized_linear_bytes
from planner.units import GB, GiB


def test_72b_fp16_is_144_gb_but_134_gib():
    p = planner.profile("LLaVA-Video-72B-Qwen2", dtype="fp16")
    assert p.parameters == 73_180_522_016
    # params x 2, + the int64 position_ids buffer (729 x 8) and two 64-entry rotary buffers, which
    # transformers computes in fp32 and from_pretrained leaves fp32 in an fp16 model (4 bytes each)
    assert p.weights_bytes == 73_180_522_016 * 2 + 729 * 8 + 2 * 64 * 4
    assert round(p.weights_bytes / GB, 1) == 146.4 and round(p.weights_bytes / GiB, 1) == 136.3


def test_13b_two_bytes_is_26_gb():
    p = planner.profile("Llama-2-13b-hf", dtype="fp16")
    assert p.parameters == 13_015_864_320
    assert round(p.weights_bytes / GB, 2) == 26.03


@pytest.mark.parametrize(("model", "params", "gb"), [("Llama-2-7b-hf", 6_738_415_616, 26.95), ("Llama-3.1-70B", 70_553_706_496, 282.21)])
def test_fp32_figures(model, params, gb):
    p = planner.profile(model, dtype="fp32")
    assert p.parameters == params
    assert round(p.weights_bytes / GB, 2) == gb


def test_int8_and_int4_halve_and_quarter_plus_metadata():
    bf16 = planner.profile("Meta-Llama-3-8B", dtype="bf16", quant="none")
    int8 = planner.profile("Meta-Llama-3-8B", dtype="bf16", quant="int8")
    gptq = planner.profile("Meta-Llama-3-8B", dtype="bf16", quant="gptq")
    linear = sum(t.numel for u in bf16.spec.units for t in u.tensors if t.quantizable)
    rest = bf16.weights_bytes - 2 * linear
    # int8: one byte per weight + an fp32 scale per output row; embeddings and lm_head stay bf16
    rows = sum(t.out_features for u in bf16.spec.units for t in u.tensors if t.quantizable)
    assert int8.weights_bytes == rest + linear + 4 * rows
    # group-wise int4 (g=128): 4 bits + fp16 scale + int4 zero per group + int32 g_idx per input
    bits_per_weight = 8 * (gptq.weights_bytes - rest) / linear
    assert 4.15 < bits_per_weight < 4.2
    assert gptq.weights_bytes / bf16.weights_bytes == pytest.approx(0.355, abs=0.01)  # embeddings/head unquantized


def test_quant_layouts_per_linear():
    k = n = 4096
    assert quantized_linear_bytes(make_scheme("nf4"), k, n) == k * n // 2 + (k * n // 64) * 4 + 64  # 4.5 bits
    dq = quantized_linear_bytes(make_scheme("nf4", double_quant=True), k, n) * 8 / (k * n)
    assert 4.12 < dq < 4.14  # about 4.127 bits per weight, as QLoRA reports
    assert quantized_linear_bytes(make_scheme("fp8-block"), 7168, 18432) == 7168 * 18432 + 56 * 144 * 4
    awq = quantized_linear_bytes(make_scheme("awq"), k, n)
    assert awq == k * n // 2 + (k // 128) * n * 2 + (k // 128) * n // 2
    ct = quantized_linear_bytes(make_scheme("int4", group_size=-1), k, n)
    assert ct == k * n // 2 + n * 2 + 16


def test_inference_vs_rule_of_thumb_13b():
    """Chip Huyen's 13B x 2 bytes x 1.2 = 31.2 GB, against the exact need for a stated workload."""
    p = planner.profile("Llama-2-13b-hf", dtype="fp16", batch=1, prompt_tokens=2048, new_tokens=512)
    assert p.parameters == 13_015_864_320  # the count the rule is applied to: 31.24 GB with x 2 bytes x 1.2
    assert pytest.approx(31.24, abs=0.01) == p.parameters * 2 * 1.2 / GB
    assert p.kv_bytes == 40 * 2 * 40 * 128 * (2048 + 511) * 2
    assert 26 < p.total_bytes / GB < 29

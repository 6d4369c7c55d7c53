"""Quantized checkpoints are counted as their libraries lay them out: each expected figure is the
sum over the tensors the library stores for one Linear (names, shapes and dtypes as in its
checkpoints), written out here by hand, against the planner's bytes for the same config. A
quantization_config the planner cannot read is refused, never sized as if it were bf16."""

from __future__ import annotations

import pytest
from conftest import catalog_config

from planner import profile
from planner.costs.quant import scheme_from_quantization_config
from planner.errors import InputError
from planner.model.hf_config import spec_from_config
from planner.workload import Workload

K = N = 256  # one q_proj of the tiny model below: in_features = out_features = hidden
TINY = dict(model_type="llama", hidden_size=K, intermediate_size=512, num_hidden_layers=1, num_attention_heads=4,
            num_key_value_heads=4, vocab_size=128, torch_dtype="bfloat16")
BYTES = {"I32": 4, "F16": 2, "BF16": 2, "F32": 4, "F8": 1, "U8": 1, "I64": 8}


def stored(*tensors: tuple[str, tuple[int, ...]]) -> int:
    total = 0
    for dtype, shape in tensors:
        n = 1
        for d in shape:
            n *= d
        total += n * BYTES[dtype]
    return total


def q_proj_bytes(qc: dict) -> int:
    spec = spec_from_config(dict(TINY, quantization_config=qc))
    prof = profile(spec, Workload(dtype="bf16"))
    from planner.costs.weights import module_bytes

    return module_bytes(spec.unit("model.layers.0"), 16, prof.quant)["model.layers.0.self_attn.q_proj"]


@pytest.mark.parametrize(("qc", "layout"), [
    ({"quant_method": "gptq", "bits": 4, "group_size": 128, "sym": True},  # AutoGPTQ / GPTQModel
     [("I32", (K // 8, N)), ("I32", (K // 128, N // 8)), ("F16", (K // 128, N)), ("I32", (K,))]),
    ({"quant_method": "gptq", "bits": 8, "group_size": 64, "sym": True},
     [("I32", (K // 4, N)), ("I32", (K // 64, N // 4)), ("F16", (K // 64, N)), ("I32", (K,))]),
    ({"quant_method": "awq", "bits": 4, "group_size": 128, "zero_point": True},  # AutoAWQ GEMM
     [("I32", (K, N // 8)), ("I32", (K // 128, N // 8)), ("F16", (K // 128, N))]),
    ({"quant_method": "compressed-tensors", "format": "float-quantized",  # llm-compressor FP8_DYNAMIC
      "config_groups": {"group_0": {"weights": {"num_bits": 8, "type": "float", "strategy": "channel"}}}},
     [("F8", (N, K)), ("BF16", (N, 1))]),
    ({"quant_method": "compressed-tensors", "format": "pack-quantized",  # llm-compressor W4A16
      "config_groups": {"group_0": {"weights": {"num_bits": 4, "type": "int", "symmetric": True, "group_size": 128}}}},
     [("I32", (N, K // 8)), ("BF16", (N, K // 128)), ("I64", (2,))]),
    ({"quant_method": "fp8", "weight_block_size": [128, 128]},  # DeepSeek-V3 block FP8
     [("F8", (N, K)), ("F32", (N // 128, K // 128))]),
])
def test_quantized_linear_is_counted_as_stored(qc, layout):
    assert q_proj_bytes(qc) == stored(*layout)


def test_mxfp4_experts_as_gpt_oss_stores_them():
    """gpt-oss-20b: 20.9 B parameters; expert weights as U8 blocks [E, N, K/32, 16] + U8 scales
    [E, N, K/32]; attention, routers, biases, sinks and embeddings in bf16."""
    cfg = catalog_config("gpt-oss-20b")
    p = profile("gpt-oss-20b")
    assert p.parameters == 20_914_757_184
    assert p.quant is not None and p.quant.name == "mxfp4"
    e, h, inter = cfg["num_local_experts"], cfg["hidden_size"], cfg["intermediate_size"]
    experts = stored(("U8", (e, 2 * inter, h // 32, 16)), ("U8", (e, 2 * inter, h // 32)),
                     ("U8", (e, h, inter // 32, 16)), ("U8", (e, h, inter // 32)))
    unquantized = profile("gpt-oss-20b", quant="none")
    expert_params = e * (h * 2 * inter + inter * h)
    layers = cfg["num_hidden_layers"]
    assert p.weights_bytes == unquantized.weights_bytes - layers * (2 * expert_params - experts)
    assert round(p.weights_bytes / 1e9, 2) == 13.76  # the published checkpoint is 13.8 GB


@pytest.mark.parametrize(("qc", "needle"), [
    ({"quant_method": "gptq", "bits": "four"}, "bits"),
    ({"quant_method": "gptq", "bits": 3}, "bits"),
    ({"quant_method": "gptq", "bits": 4, "group_size": 0}, "group_size"),
    ({"quant_method": "fp8", "weight_block_size": [0, 0]}, "weight_block_size"),
    ({"quant_method": "bitsandbytes", "load_in_4bit": "x"}, "load_in_4bit"),
    ({"quant_method": "compressed-tensors", "config_groups": [1, 2]}, "config_groups"),
    ({"quant_method": "compressed-tensors", "config_groups": {"g": {"weights": {"num_bits": 3}}}}, "num_bits"),
    ({"quant_method": "hqq"}, "hqq"),
])
def test_unreadable_quantization_is_refused(qc, needle):
    with pytest.raises(InputError, match=needle):
        scheme_from_quantization_config(qc)

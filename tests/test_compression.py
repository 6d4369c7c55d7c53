"""Compression memory: Hessians as llm-compressor allocates them (in x in fp32 per targeted
Linear, experts included), the issue's worked figures, and the settings that fit a GPU."""

from __future__ import annotations

import json

import pytest
from conftest import catalog_config, run_cli
from hf_reference import build_meta

from planner import profile
from planner.catalog import find_gpu
from planner.costs.compression import CompressionSetup, compression_cost
from planner.sizing.compression import recommend, smallest_gpu

GiB = 2**30


def test_llama3_8b_layer_and_hessians():
    cost = compression_cost(profile("Meta-Llama-3-8B", dtype="bf16"), CompressionSetup("gptq", 512, 2048))
    layer = next(u for u in cost.units if u.name == "model.layers.0")
    assert layer.weights_bytes == 218_103_808 * 2 + 2 * 4096 * 2  # 0.41 GiB: the Linears and two norms, bf16
    assert layer.hessian_bytes == (6 * 4096**2 + 14336**2) * 4  # q, k, v, o, gate, up at 4096 in; down at 14336
    assert round(layer.hessian_bytes / GiB, 2) == 1.14


def test_deepseek_r1_expert_hessians_are_about_100_gib():
    cost = compression_cost(profile("DeepSeek-R1", dtype="bf16", quant="none"), CompressionSetup("gptq", 512, 2048))
    moe = next(u for u in cost.units if u.name == "model.layers.3")
    # worked by hand from DeepSeek-V3's architecture: fp32 in x in per targeted Linear. MLA:
    # q_a_proj and kv_a_proj_with_mqa read 7168, q_b_proj 1536 (q_lora_rank), kv_b_proj 512
    # (kv_lora_rank), o_proj 128 heads x 128 = 16384; 256 routed experts and 1 shared expert, each
    # gate/up reading 7168 and down 2048 (the router is not an nn.Linear)
    attention = (7168**2 + 1536**2 + 7168**2 + 512**2 + 16384**2) * 4
    experts = 257 * (2 * 7168**2 + 2048**2) * 4
    assert moe.hessian_bytes == attention + experts == 111_444_754_432  # 103.8 GiB; the guide's "about the weights": 44.8 GB
    assert cost.peak_unit.name.startswith("model.layers.") and cost.gpu_peak_bytes > 120 * GiB


@pytest.mark.hf
@pytest.mark.parametrize("name", ["Meta-Llama-3-8B", "Qwen3-30B-A3B", "Mixtral-8x7B-v0.1", "Phi-3-mini-4k-instruct"])
def test_hessians_match_the_real_modules(hf, name):
    """Allocate what llm-compressor would (torch.zeros((in, in), float32) per targeted nn.Linear, and
    per expert Linear for fused MoE experts) on the real module tree, on the meta device."""
    _, _, torch = hf
    model = build_meta(catalog_config(name))
    layer = model.model.layers[0]
    total = 0
    for mod_name, module in layer.named_modules():
        if isinstance(module, torch.nn.Linear) and not mod_name.endswith(("gate", "router")):  # routers stay unquantized
            total += torch.zeros((module.in_features,) * 2, dtype=torch.float32, device="meta").numel() * 4
        for pname, p in module.named_parameters(recurse=False):
            if p.dim() == 3:  # fused experts (E, out, in): one Linear per expert, gate_up split in two
                e, out, inp = p.shape
                total += e * (2 if pname == "gate_up_proj" else 1) * inp * inp * 4
    cost = compression_cost(profile(name, dtype="bf16", quant="none"), CompressionSetup("gptq", 16, 256))
    assert next(u for u in cost.units if u.name == "model.layers.0").hessian_bytes == total


def test_leaner_settings_use_less_gpu():
    prof = profile("Qwen3-30B-A3B", dtype="bf16")
    peaks = [compression_cost(prof, CompressionSetup("sparsegpt", 256, 2048, g, off)).gpu_peak_bytes
             for g, off in (("layer", False), ("layer", True), ("sublayer", True))]
    assert peaks[0] > peaks[1] > peaks[2]
    rec = recommend(prof, find_gpu("RTX4090"), CompressionSetup("sparsegpt", 256, 2048))
    assert rec.cost is not None and rec.cost.gpu_peak_bytes <= rec.usable_bytes
    assert smallest_gpu(prof, CompressionSetup("rtn", 256, 2048)).gpu.memory_bytes <= smallest_gpu(prof, CompressionSetup("gptq", 256, 2048)).gpu.memory_bytes


def test_compression_cli_json():
    r = run_cli("estimate", "Meta-Llama-3-8B", "--mode", "compression", "--algorithm", "gptq", "--samples", "256",
                "--seq-len", "4096", "--gpu", "RTX4090", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    unit = doc["units"][1]
    assert {"weights_bytes", "gradients_bytes", "optimizer_bytes", "activation_bytes", "hessian_bytes"} <= set(unit)
    assert doc["cpu_peak_bytes"] > doc["total"]["weights_bytes"] and doc["gpu_peak_bytes"] > 0
    rec = doc["recommendations"][0]
    assert rec["fits"] and rec["oneshot"]["num_calibration_samples"] == 256
    assert rec["oneshot"]["sequential_targets"] == ["LlamaDecoderLayer"]


@pytest.mark.parametrize("field, value", [("algorithm", "awq"), ("samples", 64), ("seq_len", 512),
                                          ("sequential_targets", "sublayer"), ("offload_hessians", True), ("cache_on_gpu", True)])
def test_every_compression_setting_is_one_flag(field, value, monkeypatch, capsys):
    """The --mode compression flags are generated from CompressionSetup: each one typed lands in
    the settings the answer reports, and the fields are exactly the flags."""
    import dataclasses

    from test_hostile_corpus import run_in_process

    from planner.costs.compression import CompressionSetup
    from planner.flags import flag_of

    assert {f.name for f in dataclasses.fields(CompressionSetup)} == {"algorithm", "samples", "seq_len", "sequential_targets",
                                                                      "offload_hessians", "cache_on_gpu"}
    flag = flag_of(field)[0]
    algorithm = ["--algorithm", "sparsegpt"] if field == "offload_hessians" else []  # SparseGPT's option only
    code, out, err = run_in_process(["estimate", "Llama-3.2-1B", "--mode", "compression", *algorithm, flag,
                                     *([] if value is True else [str(value)]), "--json"], monkeypatch, capsys)
    assert code == 0, err
    assert json.loads(out)[field] == value


ONESHOT = json.loads((__import__("conftest").ROOT / "tests" / "data" / "llmcompressor_oneshot.json").read_text())


@pytest.mark.parametrize("algorithm", ["gptq", "sparsegpt", "awq", "rtn"])
@pytest.mark.parametrize("extra", [[], ["--sequential-targets", "sublayer"], ["--cache-on-gpu"]])
def test_oneshot_arguments_are_llmcompressors(algorithm, extra, monkeypatch, capsys):
    """Every printed ``oneshot`` keyword is a parameter of llm-compressor 0.14's ``oneshot``; the
    recipe string parses as its recipes do (stage -> modifiers group -> modifiers), each modifier
    exists and takes every option given (its models forbid unknown fields), AWQ is followed by a
    quantization modifier, and the dataset is one it registers."""
    from test_hostile_corpus import run_in_process

    code, out, err = run_in_process(["estimate", "DeepSeek-R1", "--mode", "compression", "--algorithm", algorithm, *extra,
                                     "--gpu", "H100", "--json"], monkeypatch, capsys)
    assert code == 0, err
    doc = json.loads(out)
    for args in [doc["oneshot"]] + [r["oneshot"] for r in doc["recommendations"] if r["fits"]]:
        _check_oneshot(args, algorithm)


def _check_oneshot(args: dict, algorithm: str) -> None:
    assert set(args) <= set(ONESHOT["oneshot_parameters"]), set(args) - set(ONESHOT["oneshot_parameters"])
    assert args["model"] == "deepseek-ai/DeepSeek-R1"
    recipe = json.loads(args["recipe"])
    [(stage, groups)] = recipe.items()
    [(group, modifiers)] = groups.items()
    assert stage.endswith("_stage") and group.endswith("_modifiers")
    for name, options in modifiers.items():
        assert set(options) <= set(ONESHOT["modifier_fields"][name]), (name, set(options) - set(ONESHOT["modifier_fields"][name]))
    names = list(modifiers)
    if "AWQModifier" in names:
        assert names.index("QuantizationModifier") > names.index("AWQModifier")
    if algorithm != "rtn":
        assert args["dataset"] in ONESHOT["datasets"] and args["num_calibration_samples"] == 512

"""The dtype a model is sized at is the one ``from_pretrained``'s default ``dtype="auto"`` loads:
the config's ``dtype``/``torch_dtype``, else the checkpoint's first floating tensor, else (a
config with no checkpoint) from_config's fp32; a dtype the planner cannot size is refused naming
the field, unless ``--dtype`` says what to size."""

from __future__ import annotations

import json

import pytest
from conftest import assert_input_error, run_cli

from planner import profile

TINY = dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=256)


def _config(tmp_path, **fields):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(dict(TINY, **fields)))
    return path


@pytest.mark.hf
@pytest.mark.parametrize("saved_as", ["bfloat16", "float16", "float32"])
def test_folder_without_dtype_sizes_what_from_pretrained_loads(hf, tmp_path, saved_as):
    """transformers is the oracle: the model loaded with its default dtype holds exactly the bytes
    the planner predicts for the folder whose config lost its dtype."""
    transformers, _, torch = hf
    model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**TINY),
                                                          dtype=getattr(torch, saved_as))
    model.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg.pop("dtype", None), cfg.pop("torch_dtype", None)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    loaded = transformers.AutoModelForCausalLM.from_pretrained(tmp_path)
    held = sum(p.numel() * p.element_size() for p in loaded.parameters())
    prof = profile(str(tmp_path))
    assert prof.spec.dtype_from == "checkpoint"
    assert {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}[str(loaded.dtype).removeprefix("torch.")] == prof.dtype
    assert sum(u.weights_bytes for u in prof.units if u.kind != "rotary") == held  # parameters (rotary: buffers)


def test_config_alone_without_dtype_is_fp32_and_says_so(tmp_path):
    path = _config(tmp_path)
    prof = profile(str(path))
    assert prof.dtype == "fp32" and prof.spec.dtype_from == "unnamed"
    r = run_cli("estimate", str(path))
    assert r.returncode == 0 and "from_config's default; give --dtype" in r.stdout


@pytest.mark.parametrize(("key", "value"), [("torch_dtype", "float64"), ("dtype", "int8"), ("torch_dtype", "bfloat61"),
                                            ("dtype", "float8_e4m3fn")])
def test_a_dtype_the_planner_cannot_size_is_refused_naming_the_field(tmp_path, key, value):
    path = _config(tmp_path, **{key: value})
    assert_input_error(run_cli("estimate", str(path)), f"field '{key}'", value, "--dtype")
    r = run_cli("estimate", str(path), "--dtype", "bf16", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["dtype"] == "bf16"


def test_text_config_dtype_is_read(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llava", "text_config": dict(TINY, dtype="float16"),
                                "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                                                  "num_attention_heads": 2, "image_size": 28, "patch_size": 14}}))
    assert profile(str(path)).dtype == "fp16"


def test_auto_dtype_takes_the_first_floating_tensor_by_name():
    from planner.model.safetensors import auto_dtype

    assert auto_dtype({"b.weight": "BF16", "a.weight": "F32", "a.scale": "F8_E4M3"}) == "fp32"
    assert auto_dtype({"a.qweight": "I32", "b.weight": "F16"}) == "fp16"  # integers are skipped, as torch's is_floating_point
    assert auto_dtype({"a": "F8_E4M3", "b": "BF16"}) == "bf16"  # fp8 is no dtype a model can be built in
    assert auto_dtype({"a": "F64"}) is None and auto_dtype({"a": "I8"}) is None

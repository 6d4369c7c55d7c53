"""The command line as a user runs it: outputs, JSON contract, and one-line errors with exit 2."""

from __future__ import annotations

import json
import struct

import pytest
from conftest import run_cli


def test_estimate_json_contract():
    r = run_cli("estimate", "Meta-Llama-3-8B", "--batch", "2", "--prompt-tokens", "1024", "--new-tokens", "128", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["parameters"] == 8_030_261_248
    # bf16 weights, plus the rotary embedding's two fp32 buffers (inv_freq and, with Llama-3's rope
    # scaling, original_inv_freq: head_dim / 2 = 64 values each) that stay 4 bytes in a bf16 model
    assert doc["weights_bytes"] == 2 * 8_030_261_248 + 2 * 64 * 4
    assert [u["name"] for u in doc["units"]][:3] == ["model.embed_tokens", "model.layers.0", "model.layers.1"]
    assert doc["units"][-1]["name"] == "lm_head"
    layer = doc["units"][2]
    assert layer["kv_bytes"] == 2 * (1024 + 127) * 8 * 128 * 2 * 2
    assert set(layer) >= {"name", "weights_bytes", "kv_bytes", "activation_peak_bytes"}


def test_estimate_is_byte_identical_across_runs():
    a = run_cli("estimate", "Mixtral-8x7B-v0.1", "--quant", "gptq", "--json").stdout
    b = run_cli("estimate", "Mixtral-8x7B-v0.1", "--quant", "gptq", "--json").stdout
    assert a == b and a


def test_estimate_table_shows_both_units_and_collapses_layers():
    r = run_cli("estimate", "Llama-3.1-405B", "--gpu", "H100")
    assert r.returncode == 0, r.stderr
    assert "GiB" in r.stdout and "GB" in r.stdout
    assert "model.layers.1-125" in r.stdout
    assert "On H100-SXM" in r.stdout


def test_catalog_listings():
    gpus = json.loads(run_cli("catalog", "gpus", "--json").stdout)
    assert len(gpus) >= 15 and {"H200", "MI300X", "T4", "RTX-4090"} <= {g["name"] for g in gpus}
    assert all(g["sources"] for g in gpus)
    models = run_cli("catalog", "models").stdout
    assert "DeepSeek-R1" in models and "Qwen2.5-VL-7B-Instruct" in models


def _bad_files(tmp_path):
    (tmp_path / "malformed.json").write_text('{"model_type": "llama", "hidden_size": }')
    (tmp_path / "truncated.json").write_text('{"model_type": "llama", "hidden_size": 4096, "num_hid')
    (tmp_path / "unknown.json").write_text('{"model_type": "no-such-arch", "hidden_size": 10}')
    (tmp_path / "wrongtype.json").write_text('{"model_type": "llama", "hidden_size": "big"}')
    (tmp_path / "nan.json").write_text('{"model_type": "llama", "hidden_size": NaN}')
    (tmp_path / "huge.json").write_text('{"model_type": "llama", "num_hidden_layers": 1e400}')
    (tmp_path / "inf-factor.json").write_text('{"model_type": "llama", "partial_rotary_factor": Infinity}')
    (tmp_path / "bad.safetensors").write_bytes(struct.pack("<Q", 10**9) + b"{}")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["{d}/malformed.json"], "not valid JSON"),
        (["{d}/truncated.json"], "truncated"),
        (["{d}/unknown.json"], "no-such-arch"),
        (["{d}/wrongtype.json"], "hidden_size"),
        (["{d}/nan.json"], "hidden_size"),
        (["{d}/huge.json"], "num_hidden_layers"),
        (["{d}/inf-factor.json"], "partial_rotary_factor"),
        (["{d}/bad.safetensors"], "corrupt header"),
        (["{d}/missing/config.json"], "not found"),
        (["Meta-Llama-3-8B", "--dtype", "fp7"], "dtype"),
        (["Meta-Llama-3-8B", "--batch", "-3"], "batch"),
        (["Meta-Llama-3-8B", "--prompt-tokens", "0"], "prompt-tokens"),
        (["Meta-Llama-3-8B", "--gpu", "H1000"], "did you mean"),
        (["Llama-3-8b-typo"], "did you mean"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path, args, expect):
    d = _bad_files(tmp_path)
    r = run_cli("estimate", *[a.format(d=d) for a in args])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert expect.lower() in lines[0].lower()


def test_examples_config_route():
    r = run_cli("estimate", "examples/tiny-llama/config.json", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["tied_groups"] == [["model.embed_tokens", "lm_head"]]
    lm_head = next(u for u in doc["units"] if u["name"] == "lm_head")
    assert lm_head["weights_bytes"] == 0 and lm_head["activation_peak_bytes"] > 0


def test_rule_of_thumb_line_uses_the_bytes_of_the_precision_asked():
    """The rule of thumb is quoted at the precision asked: 0.5 bytes per parameter for a 4-bit
    model (8,030,261,248 x 0.5 x 1.2 = 4.8 GB), not bf16's 2."""
    r = run_cli("estimate", "Meta-Llama-3-8B", "--quant", "nf4")
    assert r.returncode == 0, r.stderr
    assert "Rule of thumb (parameters x 0.5 bytes x 1.2): 4.8 GB" in r.stdout
    r = run_cli("estimate", "Meta-Llama-3-8B", "--dtype", "fp32", "--quant", "none")
    assert "Rule of thumb (parameters x 4 bytes x 1.2): 38.5 GB" in r.stdout


def test_images_flag_sizes_the_vision_tower():
    """--images reaches the vision tower: on llava-1.5-7b-hf (fp16, CLIP-L with hidden size 1,024)
    the vision embeddings hold their input and output for every image's patches, 2 x images x
    576 patches (its 336-pixel tower at patch 14, the default without --image-patches) x 1,024 x 2
    bytes: 4,718,592 bytes at --images 2, twice that at 4, and nothing at 0, when the tower does not run."""
    def vision_embeddings(images: int) -> int:
        r = run_cli("estimate", "llava-1.5-7b-hf", "--images", str(images), "--json")
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["workload"]["images"] == images
        unit = next(u for u in doc["units"] if u["name"] == "model.vision_tower.embeddings")
        return unit["activation_peak_bytes"]

    assert vision_embeddings(2) == 2 * 2 * 576 * 1024 * 2 == 4_718_592
    assert vision_embeddings(4) == 2 * vision_embeddings(2)
    assert vision_embeddings(0) == 0

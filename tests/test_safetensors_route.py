"""Specs from safetensors headers: exact bytes, sharded folders, quantized checkpoints, bad files."""

from __future__ import annotations

import json
import struct

import pytest

from planner.costs.profile import profile
from planner.costs.weights import unit_weight_bytes
from planner.errors import SafetensorsError
from planner.model.hf_config import spec_from_config
from planner.model.load import load_model
from planner.model.safetensors import read_header
from planner.workload import Workload

TINY = dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=100, torch_dtype="bfloat16")
_ST = {16: "BF16", 32: "F32", 64: "I64"}


def write_safetensors(path, tensors: dict[str, tuple[str, tuple[int, ...]]]):
    """A valid safetensors file with zero-filled data, written by hand (the format is the spec)."""
    bits = {"BF16": 16, "F16": 16, "F32": 32, "I32": 32, "I64": 64, "U8": 8, "F8_E4M3": 8}
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = 1
        for d in shape:
            n *= d
        size = n * bits[dtype] // 8
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def tensors_of(spec, dtype="BF16"):
    return {t.name: (dtype, t.shape) for u in spec.units for t in u.tensors if t.kind != "buffer" and t.tied_to is None}


def test_single_file_matches_config_spec(tmp_path):
    spec = spec_from_config(TINY)
    write_safetensors(tmp_path / "model.safetensors", tensors_of(spec))
    st = load_model(str(tmp_path / "model.safetensors"))
    by_name = {u.name: u for u in spec.units}
    for u in st.units:
        assert unit_weight_bytes(u, 16) == unit_weight_bytes(by_name[u.name], 16)
    assert [u.name for u in st.units] == [u.name for u in spec.units if u.kind != "rotary"]


def test_sharded_folder_with_config_gets_kv(tmp_path):
    spec = spec_from_config(TINY)
    items = list(tensors_of(spec).items())
    half = len(items) // 2
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", dict(items[:half]))
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", dict(items[half:]))
    weight_map = {n: f"model-0000{1 if i < half else 2}-of-00002.safetensors" for i, (n, _) in enumerate(items)}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (tmp_path / "config.json").write_text(json.dumps(TINY))
    st = load_model(str(tmp_path))
    w = Workload(batch=2, prompt_tokens=100)
    # a folder with a config is read through it: module names, KV, and the non-persistent rotary
    # buffers a loaded model holds although the checkpoint does not store them
    assert [u.name for u in st.units] == [u.name for u in spec.units]
    assert profile(st, w).units == profile(spec, w).units and profile(st, w).kv_bytes > 0


def test_gptq_checkpoint_counted_as_stored(tmp_path):
    k = n = 64
    g = 32
    tensors = {"model.embed_tokens.weight": ("F16", (100, 64)), "lm_head.weight": ("F16", (100, 64))}
    for i in range(2):
        p = f"model.layers.{i}.self_attn.q_proj"
        tensors.update({f"{p}.qweight": ("I32", (k // 8, n)), f"{p}.qzeros": ("I32", (k // g, n // 8)),
                        f"{p}.scales": ("F16", (k // g, n)), f"{p}.g_idx": ("I32", (k,))})
    write_safetensors(tmp_path / "model.safetensors", tensors)
    st = load_model(str(tmp_path))
    layer = st.unit("model.layers.1")
    expected = k * n // 2 + (k // g) * n // 2 + (k // g) * n * 2 + k * 4
    assert unit_weight_bytes(layer, 16) == expected
    assert profile(st, Workload()).weights_bytes == 2 * expected + 2 * 100 * 64 * 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x01\x02", "shorter than its 8-byte header"),
        (struct.pack("<Q", 10**6) + b"{}", "corrupt header"),
        (struct.pack("<Q", 5) + b"{nope" + b"\0" * 8, "not valid JSON"),
        (struct.pack("<Q", 90) + json.dumps({"a": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 99]}}).encode().ljust(90), "offsets"),
        (struct.pack("<Q", 90) + json.dumps({"a": {"dtype": "Q7", "shape": [4], "data_offsets": [0, 8]}}).encode().ljust(90), "unknown dtype"),
    ],
)
def test_corrupt_headers_are_reported(tmp_path, content, message):
    f = tmp_path / "bad.safetensors"
    f.write_bytes(content)
    with pytest.raises(SafetensorsError, match=message):
        read_header(f)

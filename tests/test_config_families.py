"""Config-route details not covered by the catalog: LLaVA-NeXT flat configs, errors, sliding layers."""

from __future__ import annotations

import pytest
from conftest import catalog_config

from planner.errors import ConfigError
from planner.model.hf_config import SUPPORTED, spec_from_config


def test_lmms_lab_flat_llava_config_reads_as_onevision():
    flat = dict(catalog_config("Qwen2-72B"), model_type="llava", architectures=["LlavaQwenForCausalLM"],
                mm_vision_tower="google/siglip-so400m-patch14-384", mm_vision_select_layer=-2, mm_projector_type="mlp2x_gelu")
    spec = spec_from_config(flat, "LLaVA-Video-72B-Qwen2")
    reference = spec_from_config(catalog_config("LLaVA-Video-72B-Qwen2"))
    assert spec.model_type == "llava_onevision" and spec.notes
    assert [u.name for u in spec.units] == [u.name for u in reference.units]
    assert spec.parameters == reference.parameters


def test_other_families_go_to_transformers_and_unknown_types_are_refused(hf, monkeypatch, tmp_path):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path))
    assert len(SUPPORTED) == 18 and "mamba2" not in SUPPORTED
    spec = spec_from_config({"model_type": "mamba2", "hidden_size": 64, "num_hidden_layers": 2, "num_heads": 4, "head_dim": 32,
                             "state_size": 16, "n_groups": 1, "vocab_size": 100, "expand": 2})
    layers = [u for u in spec.units if u.kind == "decoder_layer"]
    assert len(layers) == 2 and all(u.attention is None and u.state_elements > 0 for u in layers)
    with pytest.raises(ConfigError) as err:
        spec_from_config({"model_type": "no-such-model"})
    assert "no-such-model" in str(err.value) and "transformers" in str(err.value)


def test_sliding_window_layers_follow_transformers():
    gemma2 = spec_from_config(catalog_config("gemma-2-27b"))
    windows = [u.attention.sliding_window for u in gemma2.units if u.kind == "decoder_layer"]
    assert windows[:4] == [4096, None, 4096, None]
    qwen = spec_from_config(dict(catalog_config("Qwen2.5-7B"), use_sliding_window=True, sliding_window=4096, max_window_layers=20))
    windows = [u.attention.sliding_window for u in qwen.units if u.kind == "decoder_layer"]
    assert windows[19] is None and windows[20] == 4096

"""Config-route details not covered by the catalog: LLaVA-NeXT flat configs, errors, sliding layers."""

from __future__ import annotations

import pytest
from conftest import catalog_config

from planner.errors import ConfigError
from planner.spec.hf_config import SUPPORTED, spec_from_config


def test_lmms_lab_flat_llava_config_reads_as_onevision():
    flat = dict(catalog_config("Qwen2-72B"), model_type="llava", architectures=["LlavaQwenForCausalLM"],
                mm_vision_tower="google/siglip-so400m-patch14-384", mm_vision_select_layer=-2, mm_projector_type="mlp2x_gelu")
    spec = spec_from_config(flat, "LLaVA-Video-72B-Qwen2")
    reference = spec_from_config(catalog_config("LLaVA-Video-72B-Qwen2"))
    assert spec.model_type == "llava_onevision" and spec.notes
    assert [u.name for u in spec.units] == [u.name for u in reference.units]
    assert spec.parameters == reference.parameters


def test_unknown_family_names_the_supported_ones_and_the_safetensors_route():
    with pytest.raises(ConfigError) as err:
        spec_from_config({"model_type": "mamba2"})
    assert "llama" in str(err.value) and "safetensors" in str(err.value)
    assert len(SUPPORTED) == 18


def test_sliding_window_layers_follow_transformers():
    gemma2 = spec_from_config(catalog_config("gemma-2-27b"))
    windows = [u.attention.sliding_window for u in gemma2.units if u.kind == "decoder_layer"]
    assert windows[:4] == [4096, None, 4096, None]
    qwen = spec_from_config(dict(catalog_config("Qwen2.5-7B"), use_sliding_window=True, sliding_window=4096, max_window_layers=20))
    windows = [u.attention.sliding_window for u in qwen.units if u.kind == "decoder_layer"]
    assert windows[19] is None and windows[20] == 4096

"""Configs as the installed transformers writes them: every hand-written family reads the same
model from a config.json produced by ``save_pretrained`` as from the one it was made from.

transformers renames keys between releases (5.x writes Qwen3-MoE's expert count as
``num_local_experts``, its attribute_map keeping ``num_experts`` as an alias), drops defaults and
encodes infinities as ``{"__float__": "Infinity"}``; the hand path must read all of it. The
original dict's spec is itself checked against the meta build to the byte
(test_random_configs_vs_accelerate.py), so equality here is equality with transformers.
"""

from __future__ import annotations

import json

import pytest
from conftest import CATALOG_MODELS, catalog_config
from family_configs import configs
from hypothesis import HealthCheck, given, settings

from planner.costs.weights import unit_weight_bytes
from planner.model.hf_config import SUPPORTED, spec_from_config


def saved(cfg: dict, folder) -> dict:
    """``cfg`` through the transformers config class and back out of ``save_pretrained``."""
    from transformers import AutoConfig

    AutoConfig.for_model(**{k: v for k, v in cfg.items() if k != "quantization_config"}).save_pretrained(folder)
    return json.loads((folder / "config.json").read_text())


def assert_same_model(a, b) -> None:
    assert [u.name for u in a.units] == [u.name for u in b.units]
    assert a.parameters == b.parameters
    assert [unit_weight_bytes(u, 16) for u in a.units] == [unit_weight_bytes(u, 16) for u in b.units]
    assert [u.attention for u in a.units] == [u.attention for u in b.units]
    assert [u.mlp for u in a.units] == [u.mlp for u in b.units]
    assert a.tied_groups == b.tied_groups


@pytest.mark.hf
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                                     HealthCheck.function_scoped_fixture])
@given(configs())
def test_random_config_saved_by_transformers_reads_the_same(hf, tmp_path, cfg):
    folder = tmp_path / cfg["model_type"]
    assert_same_model(spec_from_config(saved(cfg, folder)), spec_from_config(cfg))


@pytest.mark.hf
@pytest.mark.parametrize("name", [n for n in CATALOG_MODELS if catalog_config(n)["model_type"] in SUPPORTED])
def test_catalog_config_saved_by_transformers_reads_the_same(hf, tmp_path, name):
    cfg = catalog_config(name)
    out = saved(cfg, tmp_path)
    assert_same_model(spec_from_config(out), spec_from_config(cfg))


@pytest.mark.hf
def test_pruned_qwen3_moe_as_transformers_5_writes_it(hf, tmp_path):
    """A 96-expert Qwen3-30B-A3B saved by transformers 5 carries num_local_experts: 96. Counted
    by hand: 48 layers x 96 experts x 3 x 2048 x 768 = 21.74 B expert parameters, plus attention
    (48 x 2048 x (4096 + 512 + 512 + 4096) = 0.905 B), routers (48 x 96 x 2048), norms and the
    151,936 x 2048 embedding and head: 23,281,219,584 (the 128-expert default gave 30.5 B)."""
    cfg = dict(catalog_config("Qwen3-30B-A3B"), num_experts=96)
    out = saved(cfg, tmp_path)
    assert "num_local_experts" in out and "num_experts" not in out
    assert spec_from_config(out).parameters == 23_281_219_584


def test_special_floats_are_read_as_transformers_reads_them():
    from planner.model.config_view import decode_special_floats

    raw = {"a": [0.0, {"__float__": "Infinity"}], "b": {"__float__": "-Infinity"}, "c": {"__float__": "NaN", "x": 1},
           "d": {"__float__": "bogus"}}
    out = decode_special_floats(raw)
    assert out["a"] == [0.0, float("inf")] and out["b"] == float("-inf")
    assert out["c"] == raw["c"] and out["d"] == raw["d"]  # not a tag: left as it is, as transformers leaves it


@pytest.mark.hf
@pytest.mark.parametrize("model_type", ["mamba2", "falcon_h1"])
def test_configs_with_infinity_build(hf, tmp_path, model_type):
    """transformers 5.25 writes Mamba-2's time_step_limit as [0.0, {"__float__": "Infinity"}]."""
    from transformers import AutoConfig

    AutoConfig.for_model(model_type, num_hidden_layers=2, vocab_size=128).save_pretrained(tmp_path)
    text = (tmp_path / "config.json").read_text()
    assert '"__float__": "Infinity"' in text
    spec = spec_from_config(json.loads(text))
    assert spec.model_type == model_type and spec.parameters > 0

"""The two routes to a ModelSpec agree: the hand-written families (torch-free fast path) equal the
meta-device build of transformers, unit for unit, on random configs and on every catalog model,
so the two can never drift apart. Also the on-disk spec cache and the route's errors."""

from __future__ import annotations

import pytest
from conftest import CATALOG_MODELS, catalog_config
from family_configs import configs
from hypothesis import HealthCheck, given, settings

from planner.costs.profile import profile
from planner.costs.weights import unit_weight_bytes
from planner.errors import ConfigError
from planner.model import meta_build, spec_cache
from planner.model.hf_config import spec_from_config
from planner.workload import Workload

pytestmark = pytest.mark.hf
WORKLOADS = (Workload(batch=2, prompt_tokens=40, new_tokens=9, images=1),
             Workload(batch=1, prompt_tokens=300, new_tokens=0, engine="vllm", attn_implementation="eager"))


@pytest.fixture(autouse=True)
def no_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "specs"))


def assert_same_spec(hand, meta) -> None:
    assert [u.name for u in meta.units] == [u.name for u in hand.units]
    assert meta.parameters == hand.parameters and meta.tied_groups == hand.tied_groups
    assert set(hand.no_split_modules) <= set(meta.no_split_modules)
    for a, b in zip(meta.units, hand.units, strict=True):
        assert (a.kind, a.tower, a.layer_index, a.hidden_size) == (b.kind, b.tower, b.layer_index, b.hidden_size), a.name
        assert a.attention == b.attention and a.mlp == b.mlp, a.name
        # what each quantizer replaces: the same tensors are Linears, exact nn.Linear modules, and checkpoint targets
        assert sorted((t.name, t.kind, t.exact_linear, t.conv1d, t.quantizable) for t in a.tensors if t.numel) == \
            sorted((t.name, t.kind, t.exact_linear, t.conv1d, t.quantizable) for t in b.tensors if t.numel), a.name
        for bits in (16, 32):
            assert unit_weight_bytes(a, bits) == unit_weight_bytes(b, bits), (a.name, bits)
    vlm = any(u.tower == "vision" for u in hand.units)
    for w in WORKLOADS:
        w = w if vlm else w.model_copy(update={"images": 0})  # images are refused for a model without a vision tower
        assert profile(meta, w).units == profile(hand, w).units


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_hand_written_families_equal_the_meta_build(hf, cfg):
    assert_same_spec(spec_from_config(cfg), meta_build.spec_from_meta(cfg))


@pytest.mark.slow
@pytest.mark.parametrize("name", CATALOG_MODELS)
def test_catalog_models_equal_the_meta_build(hf, name):
    config = catalog_config(name)
    if "mm_vision_tower" in config:  # lmms-lab's flat layout is not a transformers config
        pytest.skip("LLaVA-NeXT flat config: read by the hand-written route only")
    assert_same_spec(spec_from_config(config, name), meta_build.spec_from_meta(config, name))


def test_unknown_family_goes_to_the_meta_build(hf):
    spec = spec_from_config({"model_type": "olmo2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                             "num_attention_heads": 4, "vocab_size": 100})
    assert spec.architecture == "Olmo2ForCausalLM" and [u.kind for u in spec.units].count("decoder_layer") == 2
    assert "meta device" in spec.notes[0]


def test_spec_cache_is_reused_and_keyed_by_content(hf, monkeypatch, tmp_path):
    cfg = {"model_type": "olmo2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
           "num_attention_heads": 4, "vocab_size": 100}
    first = meta_build.spec_from_meta(cfg, "a")
    assert len(list((tmp_path / "specs").glob("*.json"))) == 1
    monkeypatch.setattr(meta_build, "_build", lambda *a: pytest.fail("rebuilt although cached"))
    again = meta_build.spec_from_meta(cfg, "b")
    assert again.name == "b" and spec_cache.spec_to_json(again) == spec_cache.spec_to_json(first).replace('"a"', '"b"', 1)
    with pytest.raises(pytest.fail.Exception):
        meta_build.spec_from_meta({**cfg, "vocab_size": 101})
    (tmp_path / "specs" / f"{spec_cache.cache_key(cfg)}.json").write_text("{broken")
    monkeypatch.undo()
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path / "specs"))
    assert meta_build.spec_from_meta(cfg, "a") == first  # a corrupt entry is rebuilt


def test_without_transformers_the_error_names_the_extra(monkeypatch):
    monkeypatch.setattr(meta_build, "meta_route_available", lambda: False)
    with pytest.raises(ConfigError, match=r"planner\[hf\]"):
        spec_from_config({"model_type": "olmo2"})


def test_a_config_transformers_rejects_is_one_clear_error(hf):
    with pytest.raises(ConfigError, match="olmo2") as err:
        meta_build.spec_from_meta({"model_type": "olmo2", "hidden_size": 64, "num_attention_heads": 0, "vocab_size": 10})
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="not an architecture transformers"):
        meta_build.spec_from_meta({"model_type": "no-such-model"})

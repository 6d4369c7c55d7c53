"""Every catalog model: parameters and each unit's bytes equal accelerate's compute_module_sizes of
the model as from_pretrained holds it in that dtype (fp32 rotary buffers and routers included)."""

from __future__ import annotations

import pytest
from conftest import CATALOG_MODELS, catalog_config
from hf_reference import build_meta, module_sizes

from planner.costs.weights import unit_weight_bytes
from planner.model.hf_config import spec_from_config
from planner.units import DTYPE_BITS


@pytest.mark.hf
@pytest.mark.slow
@pytest.mark.parametrize("name", CATALOG_MODELS)
def test_catalog_model_matches_accelerate_to_the_byte(hf, name):
    config = catalog_config(name)
    spec = spec_from_config(config, name)
    model = build_meta(config)
    assert spec.parameters == sum(p.numel() for p in model.parameters())
    names = {n for n, _ in model.named_modules()}
    for unit in spec.units:
        assert unit.name in names or unit.name in dict(model.named_parameters()), unit.name
    for dtype in ("bf16", "fp32"):
        sizes = module_sizes(build_meta(config, dtype))
        for unit in spec.units:
            assert unit_weight_bytes(unit, DTYPE_BITS[dtype]) == sizes.get(unit.name, 0), (unit.name, dtype)
        assert sum(unit_weight_bytes(u, DTYPE_BITS[dtype]) for u in spec.units) == sizes[""]
    assert set(spec.no_split_modules) <= set(model._no_split_modules)


@pytest.mark.hf
def test_units_cover_every_tensor_once(hf):
    """The units partition the model: a device_map built from them covers every parameter and buffer."""
    config = catalog_config("Qwen2.5-VL-7B-Instruct")
    spec = spec_from_config(config)
    model = build_meta(config)
    tensors = {n for n, _ in model.named_parameters()} | {n for n, _ in model.named_buffers()}
    covered = {t for t in tensors if any(t == u.name or t.startswith(u.name + ".") for u in spec.units)}
    assert covered == tensors
    unit_names = [u.name for u in spec.units]
    assert len(unit_names) == len(set(unit_names))
    assert "model.visual.blocks.3" in unit_names and "model.language_model.layers.17" in unit_names


def test_tied_lm_head_counted_once():
    spec = spec_from_config(catalog_config("Llama-3.2-1B"))
    assert spec.tied_groups == (("model.embed_tokens", "lm_head"),)
    assert unit_weight_bytes(spec.unit("lm_head"), 16) == 0
    assert spec.parameters == 1_235_814_400

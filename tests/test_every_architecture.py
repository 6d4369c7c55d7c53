"""Every causal-LM and image-text-to-text model type in transformers' auto mappings, from its
default config cut to 2 layers: the planner's spec has the parameters and resident bytes of the
model transformers builds (each unit to the byte), its units are real modules or tensors, and
together they cover every parameter and buffer exactly once, so a device_map built from them is
complete. Types whose default config transformers itself cannot build are skipped, naming why."""

from __future__ import annotations

import warnings

import pytest
from architectures import default_config, mapping_types
from hf_reference import build_meta

from planner.costs.weights import unit_weight_bytes
from planner.model.meta_build import spec_from_meta

pytestmark = [pytest.mark.hf, pytest.mark.slow]
def resident_sizes(model) -> dict[str, int]:
    """Bytes per module prefix at each tensor's dtype as torch stores it (a bool is one byte:
    accelerate's ``dtype_byte_size`` counts it as one bit, which is not what is resident)."""
    sizes: dict[str, int] = {}
    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        parts = name.split(".")
        for i in range(len(parts) + 1):
            key = ".".join(parts[:i])
            sizes[key] = sizes.get(key, 0) + t.numel() * t.element_size()
    return sizes


@pytest.mark.parametrize(("task", "model_type"), mapping_types())
def test_spec_equals_the_model_transformers_builds(hf, task, model_type, monkeypatch, tmp_path):
    monkeypatch.setenv("PLANNER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("PLANNER_META_FORWARD", "off")  # weights and units only: the forwards have tests of their own
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cfg = default_config(model_type)
            model = build_meta(cfg, "bf16")
        except Exception as e:  # noqa: BLE001
            pytest.skip(f"transformers cannot build {model_type} from its default config: {type(e).__name__}: {str(e)[:120]}")
        spec = spec_from_meta(cfg, model_type)
    sizes = resident_sizes(model)
    assert spec.parameters == sum(p.numel() for p in model.parameters())
    for unit in spec.units:
        assert unit_weight_bytes(unit, 16) == sizes.get(unit.name, 0), unit.name  # a tied head holds nothing
    assert sum(unit_weight_bytes(u, 16) for u in spec.units) == sizes[""]
    tensors = [n for n, _ in model.named_parameters()] + [n for n, _ in model.named_buffers()]
    for name in tensors:
        owners = [u.name for u in spec.units if name == u.name or name.startswith(u.name + ".")]
        assert len(owners) == 1, (name, owners)

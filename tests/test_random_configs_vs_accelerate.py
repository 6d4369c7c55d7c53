"""Random configs of every text family: the spec still equals accelerate to the byte (generality)."""

from __future__ import annotations

import pytest
from family_configs import configs
from hf_reference import build_meta, module_sizes
from hypothesis import HealthCheck, given, settings

from planner.costs.weights import unit_weight_bytes
from planner.model.hf_config import spec_from_config


@pytest.mark.hf
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(configs())
def test_random_config_matches_accelerate(hf, cfg):
    spec = spec_from_config(cfg)
    model = build_meta(cfg, "bf16")
    assert spec.parameters == sum(p.numel() for p in model.parameters())
    sizes = module_sizes(model)
    for unit in spec.units:
        assert unit_weight_bytes(unit, 16) == sizes.get(unit.name, 0), (cfg, unit.name)
    assert sum(unit_weight_bytes(u, 16) for u in spec.units) == sizes[""]

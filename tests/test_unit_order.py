"""Units come in the order accelerate walks a model (direct parameters, then submodules in
registration order, then buffers), so the greedy baseline and the device_map follow the real model."""

from __future__ import annotations

import pytest
from conftest import CATALOG_MODELS, catalog_config
from hf_reference import build_meta

from planner import load_model


def accelerate_walk(module, prefix: str = "") -> list[str]:
    names = [f"{prefix}{n}" for n, _ in module.named_parameters(recurse=False)]
    for n, child in module.named_children():
        names.append(f"{prefix}{n}")
        names += accelerate_walk(child, f"{prefix}{n}.")
    names += [f"{prefix}{n}" for n, _ in module.named_buffers(recurse=False)]
    return names


@pytest.mark.hf
@pytest.mark.parametrize("name", CATALOG_MODELS)
def test_units_follow_module_order(hf, name):
    walk = accelerate_walk(build_meta(catalog_config(name)))
    position = {n: i for i, n in reversed(list(enumerate(walk)))}
    units = [u.name for u in load_model(name).units]
    assert all(u in position for u in units)
    assert units == sorted(units, key=position.__getitem__)

"""planner: exact memory costs and optimal placements for big models on real hardware.

The public API is imported lazily so that ``import planner`` (and ``planner --help``) stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ModelSpec", "Profile", "Workload", "estimate", "load_model"]


def load_model(model: str):
    """ModelSpec of a catalog name, a config.json path, or a safetensors file or folder."""
    from planner.spec.load import load_model as _load

    return _load(model)


def estimate(model, workload=None, **workload_fields):
    """Profile (per-unit weights, KV cache and activation peak) of ``model`` under a workload."""
    from planner.costs.profile import profile
    from planner.spec.types import ModelSpec
    from planner.workload import Workload

    spec = model if isinstance(model, ModelSpec) else load_model(model)
    return profile(spec, workload or Workload(**workload_fields))


def __getattr__(name: str) -> Any:
    if name == "Workload":
        from planner.workload import Workload

        return Workload
    if name == "ModelSpec":
        from planner.spec.types import ModelSpec

        return ModelSpec
    if name == "Profile":
        from planner.costs.profile import Profile

        return Profile
    raise AttributeError(name)

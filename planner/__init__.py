"""planner: exact memory costs and optimal placements for big models on real hardware.

The public API is imported lazily so that ``import planner`` (and ``planner --help``) stays cheap.
Every question the CLI answers is also one function in ``planner.commands`` (estimate, plan,
size_serving, size_cluster, serve_capacity, size_workload, train, compress) returning a typed result.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Inventory", "ModelSpec", "Plan", "Profile", "Workload", "build_inventory", "estimate", "load_device_map", "load_model",
           "plan"]


def load_model(model: str, revision: str | None = None):
    """ModelSpec of a catalog name, a Hub repo id, a config.json path, or a safetensors file or folder."""
    from planner.model.load import load_model as _load

    return _load(model, revision)


def load_device_map(path) -> dict:
    """A written device-map document as ``from_pretrained(**doc)`` keyword arguments (int GPU keys)."""
    from planner.export.device_map import load_device_map as _load

    return _load(path)


def estimate(model, workload=None, **workload_fields):
    """Profile (per-unit weights, KV cache and activation peak) of ``model`` under a workload."""
    from planner.costs.profile import profile
    from planner.model.types import ModelSpec
    from planner.workload import Workload

    spec = model if isinstance(model, ModelSpec) else load_model(model)
    return profile(spec, workload or Workload(**workload_fields))


def build_inventory(gpus=(), cpu=None, disk=None, max_memory=None, **kw):
    """Inventory of GPUs (catalog types or sizes), CPU RAM and disk; ``max_memory`` takes the dict
    accelerate takes, e.g. ``{0: "24GiB", 1: "12GiB", "cpu": "200GiB"}``."""
    from planner.hardware.inventory import build_inventory as _build

    return _build(list(gpus), cpu, disk, max_memory, **kw)


def plan(model, inventory=None, workload=None, *, objective="gpus", pins=None, weights_only=False, time_limit_s=1.0,
         offload_folder="offload", **workload_fields):
    """The optimal placement of ``model`` on ``inventory`` (an Inventory, or accelerate's max_memory
    dict): a Plan with ``status``, ``device_map`` (ready for from_pretrained), per-device bytes."""
    from planner.answers.plan import plan as run_plan
    from planner.hardware.inventory import Inventory as _Inventory

    inv = inventory if isinstance(inventory, _Inventory) else build_inventory(max_memory=inventory)
    return run_plan(estimate(model, workload, **workload_fields), inv, objective, pins, weights_only, time_limit_s,
                     offload_folder)


def __getattr__(name: str) -> Any:
    if name == "Inventory":
        from planner.hardware.inventory import Inventory

        return Inventory
    if name == "Plan":
        from planner.placement.plan import Plan

        return Plan
    if name == "Workload":
        from planner.workload import Workload

        return Workload
    if name == "ModelSpec":
        from planner.model.types import ModelSpec

        return ModelSpec
    if name == "Profile":
        from planner.costs.profile import Profile

        return Profile
    raise AttributeError(name)

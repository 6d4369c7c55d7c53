"""planner: exact memory costs and optimal placements for big models on real hardware.

The Python API (``planner.api``) has one function per CLI command, with the command's parameters
and defaults: ``estimate``, ``plan``, ``size``, ``whatif``, ``schema``, ``catalog_gpus``,
``catalog_hosts``, ``catalog_models``; and ``profile``, ``load_model``, ``build_inventory``,
``load_device_map``. Everything is imported lazily, so ``import planner`` (and ``planner --help``)
stays cheap.
"""

from __future__ import annotations

from typing import Any

_API = ("estimate", "plan", "size", "whatif", "schema", "catalog_gpus", "catalog_hosts", "catalog_models", "profile",
        "load_model", "build_inventory", "load_device_map", "answer", "exit_status")
_TYPES = {"Inventory": "planner.hardware.inventory", "Plan": "planner.placement.plan", "Workload": "planner.workload",
          "ModelSpec": "planner.model.types", "Profile": "planner.costs.profile", "EstimateRequest": "planner.requests",
          "PlanRequest": "planner.requests", "SizeRequest": "planner.requests", "WhatIfRequest": "planner.requests"}
__all__ = sorted((*_API, *_TYPES))


def __getattr__(name: str) -> Any:
    import importlib

    if name in ("answer", "exit_status"):
        return getattr(importlib.import_module("planner.answers.answer"), name)
    if name in _API:
        return getattr(importlib.import_module("planner.api"), name)
    if name in _TYPES:
        return getattr(importlib.import_module(_TYPES[name]), name)
    if name in ("api", "answers", "errors", "requests"):
        return importlib.import_module(f"planner.{name}")
    raise AttributeError(name)

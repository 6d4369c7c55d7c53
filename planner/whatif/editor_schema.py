"""The JSON Schema ``planner schema`` prints: pydantic's schema of the what-if and plan files,
stamped with ``$schema`` and ``$id`` and given the catalog's names to offer, so an editor (VS Code's
YAML extension, any JSON Schema client) completes model and GPU names while any other value stays
valid (a path, a Hub id, ``2xA100-80GB``, ``24GiB``)."""

from __future__ import annotations

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:planner:schema:scenario:v1"
"""Stable while the file format is: a new version of the format gets a new id."""


def _names_or_any(names: list[str], base: dict, what: str) -> dict:
    """``base`` that also lists ``names`` for completion (anyOf: one of them, or any string base allows)."""
    out = {k: v for k, v in base.items() if k not in ("type", "minLength", "maxLength")}
    plain = {k: v for k, v in base.items() if k in ("type", "minLength", "maxLength")}
    out["anyOf"] = [{"enum": names, "description": f"a {what} of the catalog"}, plain]
    return out


def editor_schema() -> dict:
    from planner.catalog import gpu_types, model_names
    from planner.whatif.schema import WhatIf

    doc = WhatIf.model_json_schema()
    gpus = sorted({name for g in gpu_types() for name in (g.name, *g.aliases)}, key=str.lower)
    models = list(model_names())
    doc["properties"]["model"] = _names_or_any(models, doc["properties"]["model"], "model")
    inventory = doc["$defs"]["InventorySpec"]["properties"]
    inventory["gpus"]["items"] = _names_or_any(gpus, inventory["gpus"]["items"], "GPU type")
    size = doc["$defs"].get("SizeSpec", {}).get("properties", {})
    if "gpu_types" in size:
        size["gpu_types"]["items"] = {"anyOf": [{"enum": [g.name for g in gpu_types()]}, {"type": "string"}]}
    return {"$schema": DIALECT, "$id": SCHEMA_ID, **doc}

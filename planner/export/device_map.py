"""Reading back a ``--device-map-out`` document for ``from_pretrained``."""

from __future__ import annotations


def load_device_map(path) -> dict:
    """A ``--device-map-out`` / ``plan --json`` document as keyword arguments for
    ``from_pretrained(**doc)``: ``device_map``, ``max_memory`` with int GPU keys (JSON keys are
    strings, and accelerate's ``get_max_memory`` refuses ``"0"``), ``offload_folder`` when set, and
    the load recipe: ``dtype`` and, when transformers quantizes while loading, ``quantization_config``
    (a dict, which from_pretrained takes as it takes the config object)."""
    import json
    from pathlib import Path

    from planner.errors import InputError

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        device_map, max_memory = doc["device_map"], doc["max_memory"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise InputError(f"device map: {path} is not a planner device-map document ({type(e).__name__})") from None
    if not isinstance(device_map, dict) or not isinstance(max_memory, dict):
        raise InputError(f"device map: {path} needs device_map and max_memory objects")
    out = {"device_map": {k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in device_map.items()},
           "max_memory": {int(k) if isinstance(k, str) and k.isdigit() else k: v for k, v in max_memory.items()}}
    if doc.get("offload_folder"):
        out["offload_folder"] = doc["offload_folder"]
    for key in ("dtype", "quantization_config"):  # the load recipe: what makes transformers hold the plan
        if doc.get(key) is not None:
            out[key] = doc[key]
    return out

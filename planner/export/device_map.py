"""A placement as accelerate's ``device_map``: module prefix -> GPU index, "cpu" or "disk".

Units on one device are merged into their parent module wherever every unit under that parent
shares the device (``{"": 0}`` when the whole model is on GPU 0), as accelerate's
``clean_device_map`` does. Keys come in the model's module order, so the same plan always
writes the same map.
"""

from __future__ import annotations

from collections.abc import Sequence


def collapse(names: Sequence[str], keys: Sequence[int | str]) -> dict[str, int | str]:
    """Shortest device_map equivalent to placing ``names[i]`` on ``keys[i]``."""
    out: dict[str, int | str] = {}

    def walk(prefix: str, members: list[int]) -> None:
        devices = {keys[i] for i in members}
        if len(devices) == 1:
            out[prefix] = keys[members[0]]
            return
        depth = prefix.count(".") + 1 if prefix else 0
        groups: dict[str, list[int]] = {}
        for i in members:
            parts = names[i].split(".")
            groups.setdefault(".".join(parts[: depth + 1]), []).append(i)
        for child, sub in groups.items():
            walk(child, sub)

    walk("", list(range(len(names))))
    return out


def load_device_map(path) -> dict:
    """A ``--device-map-out`` / ``plan --json`` document as keyword arguments for
    ``from_pretrained(**doc)``: ``device_map``, ``max_memory`` with int GPU keys (JSON keys are
    strings, and accelerate's ``get_max_memory`` refuses ``"0"``), and ``offload_folder`` when set."""
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
    return out

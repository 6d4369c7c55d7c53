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

"""llama.cpp's own rules for reading a command line, so a printed split is checked by replaying it.

- ``-ngl N``: of the ``n_layer + 1`` slots (decoder layers, then the output layer) the last N go to
  the GPUs, the first ``n_layer + 1 - N`` stay on the CPU (llama-model.cpp ``load_tensors``);
- ``-ts a,b,...``: slot k of the ``act`` GPU slots goes to the first device whose cumulative,
  normalised share (float) exceeds ``k / act``;
- ``-ot regex=BUFT,...``: the first pattern found (``regex_search``) in a tensor's name decides its
  buffer; ``--n-cpu-moe N`` is ``blk\\.i\\.ffn_(up|down|gate|gate_up)_(ch|)exps=CPU`` for i < N.
"""

from __future__ import annotations

import re
import struct

EXPS = r"\.ffn_(up|down|gate|gate_up)_(ch|)exps"


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def slot_devices(n_layer: int, ngl: int, tensor_split: list[float]) -> list[int]:
    """Device of each of the n_layer + 1 slots (-1: CPU) as llama.cpp assigns them."""
    slots = n_layer + 1
    ngl = slots if ngl < 0 else ngl
    start = max(slots - ngl, 0)
    act = min(ngl, slots) if tensor_split else 0
    cum, total = [], 0.0
    for s in tensor_split:
        total = _f32(total + s)
        cum.append(total)
    splits = [_f32(c / total) for c in cum] if total else []
    out = []
    for il in range(slots):
        if il < start or il - start >= act:
            out.append(-1)
            continue
        x = _f32(_f32(float(il - start)) / act)
        out.append(next((i for i, s in enumerate(splits) if s > x), len(splits) - 1))
    return out


def expert_override(layers: list[int]) -> tuple[str, str] | None:
    """The flag that sends the routed experts of ``layers`` to the CPU: ``--n-cpu-moe N`` when they
    are the first N layers, else one ``-ot`` pattern."""
    if not layers:
        return None
    if layers == list(range(len(layers))):
        return "--n-cpu-moe", str(len(layers))
    return "-ot", f"blk\\.({'|'.join(str(i) for i in layers)}){EXPS}=CPU"


def override_buffer(name: str, overrides: list[tuple[str, str]]) -> str | None:
    """The buffer an ``-ot`` list puts tensor ``name`` in (first match), or None."""
    for pattern, buft in overrides:
        if re.search(pattern, name):
            return buft
    return None


def parse_overrides(flag: str, value: str) -> list[tuple[str, str]]:
    if flag == "--n-cpu-moe":
        return [(rf"blk\.{i}{EXPS}", "CPU") for i in range(int(value))]
    out = []
    for item in value.split(","):
        pattern, _, buft = item.partition("=")
        out.append((pattern, buft))
    return out

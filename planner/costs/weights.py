"""Weight bytes of tensors and units for a storage dtype and an optional quantization scheme.

Unquantized tensors cost numel x bytes(dtype), capped at their own width (an fp32 buffer in a
bf16 model costs 2 bytes an element, an int64 buffer always 8): the rule accelerate's
``compute_module_sizes`` applies. Tied tensors are stored once, in the unit that owns them.
"""

from __future__ import annotations

from planner.costs.quant import QuantScheme, quantized_linear_bytes
from planner.model.types import TensorSpec, Unit
from planner.units import elements_bytes


def tensor_bytes(t: TensorSpec, dtype_bits: int, scheme: QuantScheme | None = None, vision: bool = False,
                 head: bool = False) -> int:
    """Bytes of one tensor of a vision-tower unit (``vision``) or of the output head (``head``)."""
    if t.tied_to is not None:
        return 0
    if t.fixed_bits is not None:
        return elements_bytes(t.numel, t.fixed_bits)
    if scheme is not None and scheme.replaces(t, vision, head):
        return quantized_linear_bytes(scheme, t.in_features, t.out_features, t.experts)
    bits = min(dtype_bits, t.max_bits) if t.max_bits else dtype_bits
    return elements_bytes(t.numel, bits)


def unit_weight_bytes(unit: Unit, dtype_bits: int, scheme: QuantScheme | None = None) -> int:
    vision, head = unit.tower == "vision", unit.kind == "head"
    return sum(tensor_bytes(t, dtype_bits, scheme, vision, head) for t in unit.tensors)


def module_bytes(unit: Unit, dtype_bits: int, scheme: QuantScheme | None = None) -> dict[str, int]:
    """Bytes held directly by each module of a unit (tensor name minus its last part), in order.

    Tied tensors are left out, as ``named_parameters`` leaves out a tensor it has already seen.
    """
    vision, head = unit.tower == "vision", unit.kind == "head"
    out: dict[str, int] = {}
    for t in unit.tensors:
        if t.tied_to is None:
            owner = t.name.rpartition(".")[0]
            out[owner] = out.get(owner, 0) + tensor_bytes(t, dtype_bits, scheme, vision, head)
    return out

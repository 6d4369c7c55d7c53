"""ggml tensor types: the block size (values per block) and bytes per block of every type a GGUF
file may store, as ggml defines them (``ggml/include/ggml.h`` type ids, ``ggml-common.h`` block
structs). A tensor's bytes are ``type_size * ne0 / block_size * ne1 * ne2 * ne3`` (``ggml_nbytes``
for a contiguous tensor), so a "Q4_K_M" file that mixes Q4_K, Q6_K and F32 is sized tensor by tensor.
"""

from __future__ import annotations

GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22), 7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36),
    10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110), 12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292), 16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50), 20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136), 24: ("I8", 1, 1), 25: ("I16", 1, 2),
    26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8), 29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66), 39: ("MXFP4", 32, 17), 40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18), 42: ("Q2_0", 64, 18),
}
"""type id -> (name, values per block, bytes per block)."""

REMOVED = {4: "Q4_2", 5: "Q4_3", 31: "Q4_0_4_4", 32: "Q4_0_4_8", 33: "Q4_0_8_8", 36: "IQ4_NL_4_4",
           37: "IQ4_NL_4_8", 38: "IQ4_NL_8_8"}
"""Ids ggml no longer loads from a file (the repacked layouts are made at load time now)."""

BY_NAME = {name: tid for tid, (name, _, _) in GGML_TYPES.items()}

KV_CACHE_TYPES = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
"""What ``-ctk``/``-ctv`` accept (common/arg.cpp ``kv_cache_types``)."""


def type_name(tid: int) -> str:
    return GGML_TYPES[tid][0]


def tensor_bytes(tid: int, shape: tuple[int, ...]) -> int:
    """Bytes of a contiguous tensor of type ``tid`` and ggml shape ``shape`` (ne0 first)."""
    _, block, size = GGML_TYPES[tid]
    n = 1
    for d in shape[1:]:
        n *= d
    return size * (shape[0] // block) * n if shape else size


def row_bytes(type_name_: str, width: int) -> int:
    """Bytes of one row of ``width`` values of the type named ``type_name_`` (``ggml_row_size``)."""
    _, block, size = GGML_TYPES[BY_NAME[type_name_.upper()]]
    return size * width // block

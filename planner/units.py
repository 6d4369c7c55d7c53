"""Bytes, GiB versus GB, and bytes per element.

Everything inside the planner is an integer number of bytes. 1 GiB = 2**30 bytes, 1 GB = 10**9
bytes; the two are only converted when printing, and printed side by side.
"""

from __future__ import annotations

import re

from planner.errors import InputError

GiB = 1024**3
GB = 10**9
MiB = 1024**2

# Storage dtypes the planner understands, and their bits per element.
DTYPE_BITS: dict[str, int] = {
    "fp32": 32,
    "bf16": 16,
    "fp16": 16,
    "fp8": 8,
    "int8": 8,
    "int4": 4,
    "nf4": 4,
    "fp4": 4,
}

# Spellings people and libraries use, mapped onto the names above.
_DTYPE_ALIASES: dict[str, str] = {
    "float32": "fp32",
    "float": "fp32",
    "tf32": "fp32",
    "bfloat16": "bf16",
    "float16": "fp16",
    "half": "fp16",
    "float8": "fp8",
    "float8_e4m3fn": "fp8",
    "float8_e5m2": "fp8",
    "e4m3": "fp8",
    "e5m2": "fp8",
}

# safetensors header dtypes -> bits per element (the format's own names).
SAFETENSORS_BITS: dict[str, int] = {
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "F32": 32,
    "I32": 32,
    "U32": 32,
    "F16": 16,
    "BF16": 16,
    "I16": 16,
    "U16": 16,
    "F8_E4M3": 8,
    "F8_E5M2": 8,
    "F8_E8M0": 8,
    "I8": 8,
    "U8": 8,
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
}


def normalize_dtype(name: str, field: str = "dtype") -> str:
    """Return the canonical dtype name, or raise an error naming the field and the choices."""
    key = str(name).strip().lower().removeprefix("torch.")
    key = _DTYPE_ALIASES.get(key, key)
    if key not in DTYPE_BITS:
        choices = ", ".join(DTYPE_BITS)
        raise InputError(f"{field}: unknown dtype {name!r}; choose one of {choices}")
    return key


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of a canonical dtype (0.5 for 4-bit types)."""
    return DTYPE_BITS[dtype] / 8


def elements_bytes(numel: int, bits: int) -> int:
    """Bytes that ``numel`` elements of ``bits`` bits take, rounded up to whole bytes."""
    return (numel * bits + 7) // 8


_SIZE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*([kmgtp]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
    "k": 10**3,
    "m": 10**6,
    "g": 10**9,
    "t": 10**12,
}


def parse_size(text: str | int, field: str = "size") -> int:
    """Parse "80GiB", "80GB", "1.5TiB" or a plain byte count into bytes (GiB = 2**30, GB = 10**9)."""
    if isinstance(text, bool):
        raise InputError(f"{field}: expected a size such as 80GiB or 80GB, got {text!r}")
    if isinstance(text, int):
        value = text
    else:
        match = _SIZE_RE.match(str(text))
        if not match or (match.group(2) or "").lower() not in _SIZE_UNITS:
            raise InputError(f"{field}: cannot read size {text!r}; write it like 80GiB (2^30) or 80GB (10^9)")
        value = int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "").lower()])
    if value <= 0:
        raise InputError(f"{field}: size must be positive, got {text!r}")
    return value


def gib(n: int | float) -> float:
    return n / GiB


def gb(n: int | float) -> float:
    return n / GB


def fmt_both(n: int | float) -> str:
    """"134.1 GiB (144.0 GB)": both units, so nobody mixes them up."""
    return f"{n / GiB:.2f} GiB ({n / GB:.2f} GB)"

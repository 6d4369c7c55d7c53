"""Bytes, GiB versus GB, and bytes per element.

Everything inside the planner is an integer number of bytes. 1 GiB = 2**30 bytes, 1 GB = 10**9
bytes; the two are only converted when printing, and printed side by side.
"""

from __future__ import annotations

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

TORCH_DTYPE_NAMES: dict[str, str] = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
"""The torch names of the compute dtypes (``torch.bfloat16``; vLLM's ``--dtype`` and transformers'
``dtype=`` take them as strings)."""

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


def elements_bytes(numel: int, bits: int) -> int:
    """Bytes that ``numel`` elements of ``bits`` bits take, rounded up to whole bytes."""
    return (numel * bits + 7) // 8


# Size suffixes, read as accelerate's convert_file_size_to_int reads them: binary for *iB, decimal for *B.
_SIZE_UNITS: dict[str, int] = {
    "tib": 1024**4, "gib": GiB, "mib": MiB, "kib": 1024,
    "tb": 10**12, "gb": GB, "mb": 10**6, "kb": 10**3, "b": 1,
}


MAX_BYTES = 2**60
"""Largest size read (1 EiB): the limit applies to the bytes, after the unit."""


def parse_size(value: int | str, field: str = "size") -> int:
    """Bytes of ``80GiB`` (2^30), ``80GB`` (10^9), ``512MiB`` or a plain integer of bytes.

    Zero and negative sizes are errors: every size the planner reads is a capacity or a budget.
    """
    if isinstance(value, bool):
        raise InputError(f"{field}: expected a size such as 80GiB or 80GB, got {value!r}")
    if isinstance(value, int):
        number, unit = float(value), 1
    else:
        text = str(value).strip().replace(" ", "").replace("_", "")
        lowered = text.lower()
        unit_name = next((u for u in _SIZE_UNITS if lowered.endswith(u)), "")
        digits = text[: len(text) - len(unit_name)] if unit_name else text
        try:
            number = float(digits)
        except ValueError:
            raise InputError(f"{field}: cannot read {value!r} as a size; write e.g. 80GiB (2^30 bytes) or 80GB (10^9)") from None
        unit = _SIZE_UNITS.get(unit_name, 1)
    if not 0 < number < 1e30:  # also rejects nan and inf
        raise InputError(f"{field}: size must be a positive finite number of bytes, got {value!r}")
    if number * unit >= MAX_BYTES:
        raise InputError(f"{field}: {value!r} is more than any machine holds (at most 2^60 bytes, 1 EiB)")
    nbytes = int(number * unit)
    if nbytes <= 0:
        raise InputError(f"{field}: size must be at least one byte, got {value!r}")
    return nbytes


def gib(n: int | float) -> str:
    """``12.34 GiB``: a byte count in prose (every report's one conversion)."""
    return f"{n / GiB:.2f} GiB"


def gib_gb(n: int | float) -> str:
    """``12.34 GiB (13.25 GB)``: a byte count in prose where both units matter."""
    return f"{n / GiB:.2f} GiB ({n / GB:.2f} GB)"


def size_text(n: int | float) -> str:
    """A byte count in the unit its size needs: ``812 bytes``, ``3.50 MiB``, ``46.23 GiB``,
    ``1.20 TiB`` (binary units; for reasons and messages, where a GiB with two decimals would
    read 0.00 for a small model)."""
    for unit, name in ((1024**4, "TiB"), (GiB, "GiB"), (MiB, "MiB")):
        if abs(n) >= unit:
            return f"{n / unit:.2f} {name}"
    return f"{int(n):,} bytes"


def parse_watts(text: str, field: str) -> float:
    """``3000``, ``3000W``, ``12kW`` or ``1.2MW`` as watts."""
    from planner.errors import InputError

    raw = str(text).strip().lower().replace(" ", "")
    scale = 1.0
    for suffix, factor in (("mw", 1e6), ("kw", 1e3), ("w", 1.0)):
        if raw.endswith(suffix):
            raw, scale = raw[: -len(suffix)], factor
            break
    try:
        value = float(raw) * scale
    except ValueError:
        raise InputError(f"{field}: cannot read {text!r} as a power; write e.g. 3000 (W) or 12kW") from None
    if not 0 < value < 1e12:  # also refuses nan and inf
        raise InputError(f"{field}: must be a power above 0 W and below 1e12 W, got {text!r}; write e.g. 3000 or 12kW")
    return value

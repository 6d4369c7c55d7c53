"""Weight quantization schemes and the exact bytes each stores per quantized Linear.

Layouts (what the checkpoint and the loaded module hold per Linear of in_features K and
out_features N, E experts):
- ``int8``  bitsandbytes LLM.int8: int8 weight + one fp32 scale per output row (SCB).
- ``nf4`` / ``fp4`` bitsandbytes 4-bit: two weights per byte + one fp32 absmax per 64-element
  block (+ the 16-entry fp32 code table); with double quantization the absmax is stored in 8 bits
  plus one fp32 per 256 blocks, an fp32 offset and a 256-entry fp32 code table.
- ``fp8``   FP8 W8A8 with an fp32 scale per output channel (llm-compressor FP8, vLLM fp8).
- ``fp8-block`` FP8 with an fp32 scale per 128x128 block (DeepSeek-V3/R1 checkpoints).
- ``int4``  compressed-tensors W4A16 pack-quantized: int4 packed into int32, one 16-bit scale per
  group of ``group_size`` inputs, an int64[2] weight_shape; zero points only when asymmetric.
- ``gptq``  AutoGPTQ/GPTQModel: qweight int4-in-int32, fp16 scales and int4 qzeros per group, and
  an int32 ``g_idx`` of K entries.
- ``awq``   AutoAWQ GEMM: qweight, fp16 scales and int4 qzeros per group (no g_idx).
bitsandbytes replaces every nn.Linear but ``lm_head`` (vision towers included); GPTQ, AWQ,
compressed-tensors and fp8 recipes target the decoder Linears only. Routers, embeddings, norms,
biases and ``lm_head`` stay in the compute dtype everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.errors import InputError


@dataclass(frozen=True, slots=True)
class QuantScheme:
    name: str
    group_size: int = 128
    symmetric: bool = True
    double_quant: bool = False

    @property
    def quantizes_vision(self) -> bool:
        return self.name in ("int8", "nf4", "fp4")


SCHEMES = ("int8", "fp8", "fp8-block", "nf4", "fp4", "int4", "gptq", "awq")


def make_scheme(name: str | None, group_size: int = 128, symmetric: bool = True, double_quant: bool = False) -> QuantScheme | None:
    if name in (None, "", "none"):
        return None
    if name not in SCHEMES:
        raise InputError(f"quant: unknown scheme {name!r}; choose one of none, {', '.join(SCHEMES)}")
    if group_size != -1 and group_size <= 0:
        raise InputError(f"group_size: must be a positive integer or -1 (one group per row), got {group_size}")
    return QuantScheme(name, group_size, symmetric if name != "awq" else False, double_quant)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def quantized_linear_bytes(scheme: QuantScheme, k: int, n: int, experts: int = 1) -> int:
    """Bytes one quantized Linear (or fused expert tensor) holds, metadata included."""
    numel = k * n
    s = scheme.name
    if s == "int8":
        per = numel + n * 4
    elif s in ("nf4", "fp4"):
        blocks = _ceil(numel, 64)
        per = _ceil(numel, 2) + 16 * 4
        per += blocks + _ceil(blocks, 256) * 4 + 4 + 256 * 4 if scheme.double_quant else blocks * 4
    elif s == "fp8":
        per = numel + n * 4
    elif s == "fp8-block":
        per = numel + _ceil(n, 128) * _ceil(k, 128) * 4
    else:
        groups = 1 if scheme.group_size == -1 else _ceil(k, scheme.group_size)
        packed = n * _ceil(k, 8) * 4
        scales = groups * n * 2
        zeros = groups * _ceil(n, 8) * 4
        if s == "int4":
            per = packed + scales + 16 + (0 if scheme.symmetric else zeros)
        elif s == "gptq":
            per = packed + scales + zeros + k * 4
        else:  # awq
            per = packed + scales + zeros
    return per * experts


def scheme_from_quantization_config(qc: dict | None) -> QuantScheme | None:
    """The scheme a checkpoint's own ``quantization_config`` describes (None if not understood)."""
    if not qc:
        return None
    method = str(qc.get("quant_method", "")).lower()
    group = qc.get("group_size", 128)
    group = group if isinstance(group, int) and group != 0 else 128
    if method == "fp8":
        return make_scheme("fp8-block" if qc.get("weight_block_size") else "fp8")
    if method == "gptq":
        return make_scheme("gptq", group, bool(qc.get("sym", True))) if qc.get("bits", 4) == 4 else make_scheme("int8")
    if method == "awq":
        return make_scheme("awq", group, False)
    if method == "bitsandbytes":
        if qc.get("load_in_4bit"):
            kind = qc.get("bnb_4bit_quant_type", "fp4")
            return make_scheme("nf4" if kind == "nf4" else "fp4", double_quant=bool(qc.get("bnb_4bit_use_double_quant")))
        return make_scheme("int8")
    if method == "compressed-tensors":
        fmt = str(qc.get("format", ""))
        for group_cfg in (qc.get("config_groups") or {}).values():
            weights = (group_cfg or {}).get("weights") or {}
            if fmt == "float-quantized" or weights.get("type") == "float":
                return make_scheme("fp8")
            if weights.get("num_bits") == 4:
                g = weights.get("group_size") or -1
                return make_scheme("int4", g, bool(weights.get("symmetric", True)))
            if weights.get("num_bits") == 8:
                return make_scheme("int8")
    return None

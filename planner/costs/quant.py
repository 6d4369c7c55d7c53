"""Weight quantization schemes and the exact bytes each stores per quantized Linear.

Layouts (what the checkpoint and the loaded module hold per Linear of in_features K and
out_features N, E experts):
- ``int8``  bitsandbytes LLM.int8: int8 weight + one fp32 scale per output row (SCB).
- ``nf4`` / ``fp4`` bitsandbytes 4-bit: two weights per byte + one fp32 absmax per 64-element
  block (+ the 16-entry fp32 code table); with double quantization the absmax is stored in 8 bits
  plus one fp32 per 256 blocks, an fp32 offset and a 256-entry fp32 code table.
- ``fp8``   FP8 W8A8 with a scale per output channel: fp32 where vLLM quantizes online, bf16 [N, 1]
  in compressed-tensors (llm-compressor) checkpoints, or one scale per tensor.
- ``fp8-block`` FP8 with an fp32 scale per 128x128 block (DeepSeek-V3/R1 checkpoints).
- ``int4``  compressed-tensors W4A16 pack-quantized: int4 packed into int32, one 16-bit scale per
  group of ``group_size`` inputs, an int64[2] weight_shape; zero points only when asymmetric.
- ``gptq``  AutoGPTQ/GPTQModel: qweight packed into int32 (8 4-bit or 4 8-bit values each), fp16
  scales and packed qzeros per group, and an int32 ``g_idx`` of K entries.
- ``awq``   AutoAWQ GEMM: qweight, fp16 scales and int4 qzeros per group (no g_idx).
- ``mxfp4`` OCP microscaling FP4 (gpt-oss): MoE expert weights only, two FP4 values per byte in
  ``*_blocks`` plus one E8M0 byte per 32 inputs in ``*_scales``; attention, routers and
  embeddings stay bf16 (transformers keeps them packed where its kernels run, Hopper and later).
bitsandbytes replaces every nn.Linear but ``lm_head`` (vision towers included); GPTQ, AWQ,
compressed-tensors and fp8 recipes target the decoder Linears only. Routers, embeddings, norms,
biases and ``lm_head`` stay in the compute dtype everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.errors import InputError
from planner.model.config_view import ConfigView


@dataclass(frozen=True, slots=True)
class QuantScheme:
    name: str
    group_size: int = 128
    symmetric: bool = True
    double_quant: bool = False
    bits: int = 4
    """Weight bits of the packed integer schemes (GPTQ 4 or 8)."""
    scale_bytes: int = 4
    """Bytes of one fp8 scale: fp32 in vLLM/DeepSeek layouts, the model dtype (bf16) in
    compressed-tensors checkpoints."""
    per_tensor: bool = False
    """One fp8 scale for the whole tensor instead of one per output channel."""
    targets: str = "layers"
    """Which tensors the scheme replaces: ``layers`` (what checkpoint recipes quantize: the decoder
    Linears, ``TensorSpec.quantizable``; bitsandbytes' vision towers; mxfp4's experts only),
    ``modules`` (bitsandbytes loading in transformers: every exact nn.Linear and GPT-2 Conv1D but the
    output head, vision and projector included, fused MoE experts left at the model dtype) or
    ``modules+experts`` (transformers' FineGrainedFP8 while loading: exact nn.Linears, not Conv1D,
    and the fused experts)."""

    @property
    def quantizes_vision(self) -> bool:
        return self.name in ("int8", "nf4", "fp4")

    @property
    def experts_only(self) -> bool:
        return self.name == "mxfp4"

    def replaces(self, t, vision: bool = False, head: bool = False) -> bool:
        """Whether tensor ``t`` (of a vision-tower unit, of the output head) is stored quantized."""
        if self.targets == "modules":  # bitsandbytes: nn.Linear and Conv1D (integrations/bitsandbytes.py)
            return (t.exact_linear or t.conv1d) and not head
        if self.targets == "modules+experts":  # FineGrainedFP8: nn.Linear and `.experts` (integrations/finegrained_fp8.py)
            return (t.exact_linear and not head) or t.kind == "expert_linear"
        return (t.quantizable and (not vision or self.quantizes_vision)
                and (t.kind == "expert_linear" or not self.experts_only))


SCHEMES = ("int8", "fp8", "fp8-block", "nf4", "fp4", "int4", "gptq", "awq", "mxfp4")


def make_scheme(name: str | None, group_size: int = 128, symmetric: bool = True, double_quant: bool = False,
                **layout) -> QuantScheme | None:
    if name in (None, "", "none"):
        return None
    if name not in SCHEMES:
        raise InputError(f"quant: unknown scheme {name!r}; choose one of none, {', '.join(SCHEMES)}")
    if group_size != -1 and group_size <= 0:
        raise InputError(f"group_size: must be a positive integer or -1 (one group per row), got {group_size}")
    if name in ("int8", "nf4", "fp4"):  # bitsandbytes, which only transformers loads: it replaces modules
        layout.setdefault("targets", "modules")
    return QuantScheme(name, group_size, symmetric if name != "awq" else False, double_quant, **layout)


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
        per = numel + (1 if scheme.per_tensor else n) * scheme.scale_bytes
    elif s == "fp8-block":
        per = numel + _ceil(n, 128) * _ceil(k, 128) * 4
    elif s == "mxfp4":
        per = _ceil(numel, 2) + n * _ceil(k, 32)
    else:
        groups = 1 if scheme.group_size == -1 else _ceil(k, scheme.group_size)
        per_int32 = 32 // scheme.bits
        packed = n * _ceil(k, per_int32) * 4
        scales = groups * n * 2
        zeros = groups * _ceil(n, per_int32) * 4
        if s == "int4":
            per = packed + scales + 16 + (0 if scheme.symmetric else zeros)
        elif s == "gptq":
            per = packed + scales + zeros + k * 4
        else:  # awq
            per = packed + scales + zeros
    return per * experts


def _qc_int(qc: dict, key: str, default: int, allowed: tuple[int, ...] | None = None) -> int:
    value = ConfigView(qc, "quantization_config").int(key, default=default, minimum=-1)
    if allowed is not None and value not in allowed:
        raise InputError(f"quantization_config: field '{key}' must be one of {', '.join(map(str, allowed))}, got {value!r}")
    return value


def _qc_bool(qc: dict, key: str, default: bool) -> bool:
    return ConfigView(qc, "quantization_config").bool(key, default)


def _group(qc: dict, key: str = "group_size") -> int:
    group = _qc_int(qc, key, 128)
    if group == 0 or group < -1:
        raise InputError(f"quantization_config: field '{key}' must be a positive group size or -1, got {group}")
    return group


CT_TYPES = ("int", "float")
"""compressed-tensors' QuantizationType values."""
CT_STRATEGIES = ("tensor", "channel", "group", "block", "token", "tensor_group", "attn_head")
"""compressed-tensors' QuantizationStrategy values."""


def _compressed_tensors(qc: dict) -> QuantScheme | None:
    groups = qc.get("config_groups") or {}
    if not isinstance(groups, dict):
        raise InputError("quantization_config: 'config_groups' must be an object of quantization groups")
    fmt = str(qc.get("format", ""))
    for group_cfg in groups.values():
        if not isinstance(group_cfg, dict):
            raise InputError("quantization_config: each entry of 'config_groups' must be an object")
        targets = group_cfg.get("targets", [])
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise InputError("quantization_config: 'config_groups.*.targets' must be a list of module names or "
                             f"classes (as compressed-tensors writes it), got {str(targets)[:60]}")
        weights = group_cfg.get("weights") or {}
        if not isinstance(weights, dict):
            raise InputError("quantization_config: 'config_groups.*.weights' must be an object")
        for key, allowed in (("type", CT_TYPES), ("strategy", CT_STRATEGIES)):
            if weights.get(key) is not None and weights[key] not in allowed:
                raise InputError(f"quantization_config: 'config_groups.*.weights.{key}' must be one of "
                                 f"{', '.join(allowed)} (compressed-tensors' own), got {str(weights[key])[:40]!r}")
        if fmt == "float-quantized" or weights.get("type") == "float":
            if weights.get("block_structure"):
                return make_scheme("fp8-block")
            # llm-compressor stores the scales in the checkpoint dtype: bf16 [N, 1] per channel
            return make_scheme("fp8", scale_bytes=2, per_tensor=weights.get("strategy") == "tensor")
        bits = _qc_int(weights, "num_bits", 8, (4, 8))
        if bits == 4:
            return make_scheme("int4", _group(weights) if weights.get("group_size") is not None else -1,
                               _qc_bool(weights, "symmetric", True))
        return make_scheme("int8", targets="layers")  # W8A8 int8: the recipe's decoder Linears
    return None


def scheme_from_quantization_config(qc: dict | None) -> QuantScheme | None:
    """The scheme a checkpoint's own ``quantization_config`` describes.

    Every field is checked (a GPTQ ``bits: "four"`` or a ``group_size: 0`` is an error, not int8
    or 128), and a ``quant_method`` the planner does not know is refused rather than sized as if
    the checkpoint were bf16."""
    if not qc:
        return None
    if not isinstance(qc, dict):
        raise InputError("quantization_config: must be an object")
    method = str(qc.get("quant_method", "")).lower()
    if method == "fp8":
        block = qc.get("weight_block_size")
        if block is not None and (not isinstance(block, list) or len(block) != 2
                                  or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0 for b in block)):
            raise InputError(f"quantization_config: 'weight_block_size' must be two positive integers, got {block!r}")
        return make_scheme("fp8-block" if block else "fp8")
    if method == "gptq":
        bits = _qc_int(qc, "bits", 4, (4, 8))
        return make_scheme("gptq", _group(qc), _qc_bool(qc, "sym", True), bits=bits)
    if method == "awq":
        _qc_int(qc, "bits", 4, (4,))
        return make_scheme("awq", _group(qc, "group_size" if "group_size" in qc else "q_group_size"), False)
    if method == "bitsandbytes":
        if _qc_bool(qc, "load_in_4bit", False) and _qc_bool(qc, "load_in_8bit", False):
            raise InputError("quantization_config: load_in_4bit and load_in_8bit are both true; bitsandbytes loads one "
                             "(transformers refuses both)")
        if _qc_bool(qc, "load_in_4bit", False):
            kind = qc.get("bnb_4bit_quant_type", "fp4")
            if kind not in ("nf4", "fp4"):
                raise InputError(f"quantization_config: 'bnb_4bit_quant_type' must be nf4 or fp4, got {kind!r}")
            return make_scheme(kind, double_quant=_qc_bool(qc, "bnb_4bit_use_double_quant", False))
        if _qc_bool(qc, "load_in_8bit", False):
            return make_scheme("int8")
        raise InputError("quantization_config: bitsandbytes needs load_in_4bit or load_in_8bit set to true")
    if method == "compressed-tensors":
        return _compressed_tensors(qc)
    if method == "mxfp4":
        return make_scheme("mxfp4")
    known = "fp8, gptq, awq, bitsandbytes, compressed-tensors, mxfp4"
    raise InputError(f"quantization_config: quant_method {method or '(missing)'!r} is not one the planner can size "
                     f"({known}); pass --quant none to size the model unquantized, or --quant SCHEME")

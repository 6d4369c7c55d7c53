"""vLLM (0.34, its ``--quantization`` methods): what it loads and the flag that asks for it.

Read from vLLM's source (``model_executor/layers/quantization``, ``model_loader/weight_utils.py``
``get_quant_config``, ``config/model.py`` ``_verify_quantization``; tests/data/vllm_engine_args.json):
- A checkpoint whose config.json carries quantization_config is loaded with that method, found
  by vLLM itself (gptq/awq through their Marlin kernels): no flag is needed, and a different one
  is refused ("Quantization method specified in the model config (...) does not match ...").
  There is no flag that loads it unquantized.
- An unquantized checkpoint is quantized while loading only by the online methods: ``fp8``
  (one fp32 scale per tensor, per expert in MoE layers; compute capability 7.5 or more, weight-only
  through Marlin below 8.9) and ``fp8_per_block`` (128x128 blocks). gptq, awq and
  compressed-tensors need a checkpoint ("Cannot find the config file for gptq").
- bitsandbytes (and with it in-flight nf4 and 8-bit) was removed in vLLM 0.28.
Minimum compute capability per method is ``get_min_capability`` of its config class.
"""

from __future__ import annotations

from planner.costs.quant import make_scheme
from planner.engines.load import EngineLoad, asked_scheme, checkpoint_method, checkpoint_scheme
from planner.errors import InputError
from planner.model.types import ModelSpec

MIN_CAPABILITY = {"fp8": (7, 5), "fp8_per_block": (7, 5), "gptq": (6, 0), "awq": (7, 5), "compressed-tensors": (7, 5),
                  "mxfp4": (8, 0)}
"""Least compute capability of each method's kernels (compressed-tensors: its W8A16 and WNA16 Marlin paths)."""
_ONLINE = {"fp8": ("fp8", dict(per_tensor=True, scale_bytes=4)), "fp8-block": ("fp8_per_block", {})}
_CHECKPOINT_LABEL = {"int4": "W4A16 (compressed-tensors)", "gptq": "GPTQ", "awq": "AWQ", "int8": "W8A8 int8 (compressed-tensors)",
                     "mxfp4": "MXFP4"}
_BNB = ("vLLM removed bitsandbytes in 0.28 (no --quantization bitsandbytes, in flight or from a checkpoint); for 4-bit "
        "weights use --quant awq, gptq or int4 with a checkpoint quantized so, or --quant fp8, which vLLM quantizes as it loads")


def unsupported(load: EngineLoad | None, gpu) -> str | None:
    """Why vLLM cannot run ``load``'s method on ``gpu`` (a catalog GpuType), or None."""
    method = load.flag or load.method if load is not None else None
    cc, least = getattr(gpu, "compute_capability", None), MIN_CAPABILITY.get(method or "")
    if cc is None or least is None or cc >= least:
        return None
    return (f"vLLM's {method} needs a GPU of compute capability {least[0]}.{least[1]} or more and a {gpu.name} has "
            f"{cc[0]}.{cc[1]} (\"The quantization method {method} is not supported for the current GPU\")")


def _check_capability(load: EngineLoad, gpu) -> EngineLoad:
    why = unsupported(load, gpu)
    if why:
        raise InputError(f"quant: {why}; choose another GPU type or quantization")
    return load


def vllm_load(spec: ModelSpec, w, gpu=None) -> EngineLoad:
    """The load vLLM gives ``spec`` for ``w.quant`` on ``gpu`` (module docstring)."""
    stored = checkpoint_scheme(spec)
    method = checkpoint_method(spec) if stored else None
    asked = asked_scheme(w)
    if method == "bitsandbytes":
        raise InputError(f"model: {spec.name} is a bitsandbytes checkpoint; " + _BNB)
    if stored is not None:
        if asked is None:
            raise InputError(f"quant: none: vLLM always loads a {method} checkpoint with its own method (no flag "
                             f"dequantizes it); drop --quant none, or name an unquantized checkpoint of {spec.name}")
        if asked not in ("auto", stored.name) and not (asked == "fp8" and stored.name == "fp8-block"):
            raise InputError(f"quant: {spec.name} is a {method} checkpoint, and vLLM refuses another method for it "
                             f"(\"Quantization method specified in the model config ({method}) does not match the "
                             f"quantization method specified in the `quantization` argument\"); drop --quant")
        return _check_capability(EngineLoad("vllm", stored, stored, method, True), gpu)
    if asked in (None, "auto"):
        return EngineLoad("vllm", None, None)
    if asked in ("nf4", "fp4"):
        raise InputError(f"quant: {asked}: " + _BNB)
    if asked in _ONLINE:
        flag, layout = _ONLINE[asked]
        scheme = make_scheme(asked, **layout)
        return _check_capability(EngineLoad("vllm", scheme, scheme, flag, flag=flag), gpu)
    label = _CHECKPOINT_LABEL[asked]
    scheme = make_scheme(asked, w.group_size, True, w.double_quant, **({"targets": "layers"} if asked == "int8" else {}))
    method = "compressed-tensors" if asked in ("int4", "int8") else asked
    return _check_capability(EngineLoad("vllm", scheme, scheme, method, needs_checkpoint=(
        f"{'an' if label[0] in 'AEIOU' else 'a'} {label} checkpoint of {spec.repo_id or spec.name}: vLLM quantizes "
        "only to fp8 while loading (and has no bitsandbytes since 0.28); llm-compressor makes one: planner estimate "
        "MODEL --mode compression")), gpu)

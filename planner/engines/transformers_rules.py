"""transformers 5 (``from_pretrained`` with a device_map, accelerate dispatching): what it holds.

Each rule is the quantizer's own check, read in transformers 5.25 (``quantizers/``):
- bitsandbytes (int8, nf4, fp4) quantizes while loading every module whose type is exactly
  nn.Linear (or Conv1D), but the output head, tied weights and ``_keep_in_fp32_modules``
  (``integrations/bitsandbytes.py``: ``type(module) is nn.Linear``): vision towers and projectors
  included, fused MoE experts and router classes not. A map with cpu/disk entries beside GPUs is
  refused ("Some modules are dispatched on the CPU or the disk...") unless
  ``llm_int8_enable_fp32_cpu_offload=True``; then the map's cpu/disk keys join
  ``modules_to_not_convert`` and stay in the model dtype (``quantizer_bnb_4bit.py``). A
  pre-quantized bitsandbytes checkpoint keeps its own flag (the one passed is ignored) and stores
  the modules quantized, so the planner does not offload it.
- FineGrainedFP8 (fp8) quantizes every exact nn.Linear but the head, and the fused experts, to
  fp8 with an fp32 scale per 128x128 block; while quantizing on the fly it refuses any cpu/disk
  entry ("...This is not supported when the model is quantized on the fly"). Below compute
  capability 8.9 it dequantizes (pre-quantized or not) to the model dtype; with no GPU it refuses
  to quantize and dequantizes a checkpoint (``quantizer_finegrained_fp8.py``).
- MXFP4 (gpt-oss) is dequantized to the model dtype below compute capability 7.5; otherwise its
  experts go to the accelerator even when the map says cpu (``integrations/mxfp4.py``), so a
  layer holding them stays on a GPU.
- GPTQ, AWQ and compressed-tensors are loaded from checkpoints only (calibration makes them);
  GPTQ refuses models that are not pure text ("We can only quantize pure text model."), AWQ runs
  bf16 models in fp16 on CUDA (same bytes).
"""

from __future__ import annotations

from planner.costs.quant import QuantScheme, make_scheme
from planner.engines.load import EngineLoad, asked_scheme, attention_kernel, checkpoint_method, checkpoint_scheme
from planner.errors import InputError
from planner.model.types import ModelSpec
from planner.units import TORCH_DTYPE_NAMES

METHOD = {"int8": "bitsandbytes", "nf4": "bitsandbytes", "fp4": "bitsandbytes", "fp8": "fp8", "fp8-block": "fp8",
          "gptq": "gptq", "awq": "awq", "int4": "compressed-tensors", "mxfp4": "mxfp4"}
"""The transformers quant_method each planner scheme is loaded with."""
_LABEL = {"int4": "W4A16 (compressed-tensors int4)", "gptq": "GPTQ", "awq": "AWQ", "mxfp4": "MXFP4"}
BNB_OFFLOAD_FLAG = "llm_int8_enable_fp32_cpu_offload"


def _capability(gpu) -> tuple[int, int] | None:
    return getattr(gpu, "compute_capability", None)


def transformers_load(spec: ModelSpec, w, gpu, has_gpu: bool) -> EngineLoad:
    """The load transformers gives ``spec`` for ``w.quant`` (module docstring), with a note when it
    runs eager attention where sdpa was asked (``_supports_sdpa = False``: Gemma-2, gpt-oss)."""
    load = _transformers_load(spec, w, gpu, has_gpu)
    if attention_kernel(spec, w) != w.attn_implementation:
        from dataclasses import replace

        load = replace(load, notes=(*load.notes, f"transformers runs {spec.architecture or spec.model_type} with eager "
                                    "attention (it has no sdpa kernel): sized so"))
    return load


def _transformers_load(spec: ModelSpec, w, gpu, has_gpu: bool) -> EngineLoad:
    stored = checkpoint_scheme(spec)
    method = checkpoint_method(spec) if stored else None
    asked = asked_scheme(w)
    if asked is None:
        return _unquantized(spec, stored, method)
    if asked == "auto" or (stored is not None and METHOD[asked] == method):
        if stored is None:
            return EngineLoad("hf", None, None)
        return _prequantized(spec, stored, method, w, gpu, has_gpu)
    if stored is not None:
        raise InputError(f"quant: {spec.name} is a {method} checkpoint and transformers refuses a {METHOD[asked]} "
                         f"config for it (\"The model is quantized with {method} but you are passing a "
                         f"{METHOD[asked]} config\"); drop --quant to load it as stored")
    return _on_the_fly(spec, make_scheme(asked, w.group_size, True, w.double_quant), w, gpu, has_gpu)


def _unquantized(spec: ModelSpec, stored: QuantScheme | None, method: str | None) -> EngineLoad:
    """``--quant none``: only fp8 and mxfp4 checkpoints can be loaded dequantized (their configs'
    ``dequantize=True``); transformers always applies any other checkpoint's quantizer."""
    if stored is None:
        return EngineLoad("hf", None, None)
    if method in ("fp8", "mxfp4"):
        return EngineLoad("hf", None, None, method, True, config={"quant_method": method, "dequantize": True},
                          notes=(f"the {method} checkpoint is dequantized to the model dtype while loading "
                                 f"(quantization_config dequantize=True)",))
    raise InputError(f"quant: none: transformers always loads a {method} checkpoint quantized (its quantization_config "
                     f"cannot dequantize); drop --quant none, or name an unquantized checkpoint of {spec.name}")


def _prequantized(spec: ModelSpec, stored: QuantScheme, method: str, w, gpu, has_gpu: bool) -> EngineLoad:
    cc, name = _capability(gpu), stored.name
    if method == "fp8" and (not has_gpu or (cc is not None and cc < (8, 9))):
        return EngineLoad("hf", None, None, method, True, notes=(_fp8_dequantized(gpu, has_gpu, spec),))
    if method == "mxfp4" and cc is not None and cc < (7, 5):
        return EngineLoad("hf", None, None, method, True, notes=(
            f"transformers dequantizes mxfp4 to the model dtype on GPU 0, a {gpu.name} (compute capability "
            f"{cc[0]}.{cc[1]} < 7.5)",))
    if method == "gptq" and any(u.tower == "vision" for u in spec.units):
        raise InputError(f"quant: transformers loads GPTQ checkpoints of text-only models (\"We can only quantize pure "
                         f"text model.\", quantizer_gptq.py) and {spec.name} has a vision tower; use an AWQ or "
                         "compressed-tensors checkpoint")
    load = dict(engine="hf", scheme=stored, host_scheme=stored, method=method, prequantized=True)
    if method == "bitsandbytes":
        load["offload_refusal"] = (
            "a pre-quantized bitsandbytes checkpoint stores its modules quantized, and transformers keeps offloaded "
            "modules unquantized (modules_to_not_convert) with the checkpoint's own llm_int8_enable_fp32_cpu_offload; "
            "fits with an unquantized checkpoint and --quant " + name + ", or GPUs that hold the whole model")
    if method == "mxfp4":
        load.update(_mxfp4_experts(spec, has_gpu))
    if method == "awq" and w.dtype in (None, "bf16") and spec.default_dtype == "bf16":
        load.update(dtype="fp16", notes=("AWQ kernels run bf16 models in fp16 on CUDA (same bytes)",))
    return EngineLoad(**load)


def _on_the_fly(spec: ModelSpec, scheme: QuantScheme, w, gpu, has_gpu: bool) -> EngineLoad:
    name, cc = scheme.name, _capability(gpu)
    dtype = TORCH_DTYPE_NAMES.get(w.dtype or spec.default_dtype, "bfloat16")
    if name in ("int8", "nf4", "fp4"):
        config = {"quant_method": "bitsandbytes", "load_in_8bit": True} if name == "int8" else {
            "quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": name,
            "bnb_4bit_use_double_quant": scheme.double_quant, "bnb_4bit_compute_dtype": dtype}
        return EngineLoad("hf", scheme, None, "bitsandbytes", config=config, offload_flag=BNB_OFFLOAD_FLAG, notes=(
            f"modules the map puts on the CPU or disk stay unquantized ({dtype}): transformers adds them to "
            f"modules_to_not_convert, given {BNB_OFFLOAD_FLAG}=True",))
    if name in ("fp8", "fp8-block"):
        if not has_gpu:
            raise InputError("quant: transformers quantizes fp8 only on a GPU (\"No GPU or XPU found. A GPU or XPU is "
                             "needed for FP8 quantization.\"); add a GPU, or use --quant int8 / nf4, which bitsandbytes "
                             "quantizes on the CPU")
        if cc is not None and cc < (8, 9):
            return EngineLoad("hf", None, None, "fp8", notes=(_fp8_dequantized(gpu, True, spec),))
        block = make_scheme("fp8-block", targets="modules+experts")
        return EngineLoad(
            "hf", block, block, "fp8", config={"quant_method": "fp8", "weight_block_size": [128, 128]},
            offload_refusal=("transformers refuses cpu/disk entries when it quantizes fp8 while loading (\"This is not "
                             "supported when the model is quantized on the fly\", quantizer_finegrained_fp8.py); fits "
                             "with a pre-quantized fp8 checkpoint, or GPUs that hold the whole model"),
            notes=() if cc is not None else (_fp8_unknown_gpu(spec),))
    if name == "mxfp4":
        if spec.model_type != "gpt_oss":
            raise InputError("quant: mxfp4: transformers quantizes to MXFP4 only gpt-oss's experts (Mxfp4GptOssMLP); "
                             "use --quant fp8, int8 or nf4 for this model")
        return EngineLoad("hf", scheme, scheme, "mxfp4", config={"quant_method": "mxfp4"}, **_mxfp4_experts(spec, has_gpu))
    label = _LABEL[name]
    return EngineLoad("hf", scheme, scheme, METHOD[name], needs_checkpoint=(
        f"a {label} checkpoint of {spec.repo_id or spec.name}: transformers loads {label} checkpoints but does not "
        f"quantize to it while loading (a calibration run makes one: planner estimate MODEL --mode compression)"))


def _mxfp4_experts(spec: ModelSpec, has_gpu: bool) -> dict:
    units = frozenset(u.name for u in spec.units if any(t.kind == "expert_linear" for t in u.tensors)) if has_gpu else ()
    return {"gpu_only_units": frozenset(units), "gpu_only_reason": (
        "transformers moves mxfp4 experts mapped to the CPU onto the GPU (integrations/mxfp4.py), so layers holding "
        "them stay on GPUs") if units else "", "notes": (
        "transformers keeps the experts in mxfp4 only with its kernels installed (triton >= 3.4 on CUDA, >= 3.5 on a "
        "CPU, and the kernels package); without them it dequantizes them to the model dtype: size that with --quant none",)}


def _fp8_dequantized(gpu, has_gpu: bool, spec: ModelSpec) -> str:
    if not has_gpu:
        return "with no GPU transformers dequantizes the fp8 checkpoint to the model dtype"
    cc = gpu.compute_capability
    return (f"transformers dequantizes fp8 to the model dtype on GPU 0, a {gpu.name} (compute capability "
            f"{cc[0]}.{cc[1]} < 8.9: no fp8 kernels)")


def _fp8_unknown_gpu(spec: ModelSpec) -> str:
    return ("sized for a GPU 0 of compute capability 8.9 or more (L40S, RTX 4090, H100...); on older GPUs (A100, A10, "
            "T4, V100) transformers dequantizes fp8 to the model dtype")

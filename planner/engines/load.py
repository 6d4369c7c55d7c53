"""EngineLoad: what one engine holds for one model and request, and how to ask it for that."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.costs.quant import QuantScheme, scheme_from_quantization_config
from planner.model.types import ModelSpec

ENGINES = {"hf": "transformers", "vllm": "vLLM"}


@dataclass(frozen=True)
class EngineLoad:
    """How an engine loads a model: the layouts it holds and the recipe that asks for them."""

    engine: str
    """hf (transformers ``from_pretrained`` + accelerate) | vllm"""
    scheme: QuantScheme | None
    """The layout of the quantized modules on a GPU (None: the model dtype throughout)."""
    host_scheme: QuantScheme | None
    """The layout of modules kept on the CPU or disk (bitsandbytes leaves those unquantized)."""
    method: str | None = None
    """The engine's name for the quantization (bitsandbytes, fp8, gptq, awq, compressed-tensors, mxfp4)."""
    prequantized: bool = False
    """The checkpoint is stored quantized (its config.json carries quantization_config)."""
    needs_checkpoint: str | None = None
    """Set when the engine cannot produce the scheme from this checkpoint while loading: the answer
    holds for a checkpoint already quantized so, which this says how to get."""
    offload_refusal: str | None = None
    """Why the engine refuses cpu/disk entries in a device_map (the engine's words), with the fix."""
    gpu_only_units: frozenset[str] = frozenset()
    """Units the engine moves onto the GPU whatever the map says, with ``gpu_only_reason``."""
    gpu_only_reason: str = ""
    dtype: str | None = None
    """The dtype the engine runs the unquantized parts in, when it differs from the request's (AWQ
    kernels take fp16; same bytes)."""
    notes: tuple[str, ...] = ()
    config: dict | None = field(default=None)
    """The ``quantization_config`` to pass to ``from_pretrained`` (transformers, on the fly)."""
    offload_flag: str | None = None
    """A key of ``config`` that must be true when the device_map has cpu/disk entries."""
    flag: str | None = None
    """vLLM's ``--quantization`` value (None: none needed, vLLM reads the checkpoint's own)."""

    def quantization_config(self, offloads: bool) -> dict | None:
        """What ``from_pretrained(quantization_config=...)`` takes for a map that does (not) offload."""
        if self.config is None:
            return None
        if self.offload_flag and offloads:
            return {**self.config, self.offload_flag: True}
        return dict(self.config)

    @property
    def refuses_offload(self) -> bool:
        return self.offload_refusal is not None


def asked_scheme(w) -> str | None:
    """The workload's quant as asked: None (unquantized), "auto" or a scheme name (a workload copied
    with ``model_copy`` is not validated again, so "none" and "" are read here too)."""
    return None if w.quant in (None, "", "none") else w.quant


def checkpoint_scheme(spec: ModelSpec) -> QuantScheme | None:
    """The layout the checkpoint is stored in, from its own quantization_config."""
    return scheme_from_quantization_config(spec.quantization_config) if spec.source == "config" else None


def checkpoint_method(spec: ModelSpec) -> str | None:
    """The checkpoint's ``quant_method`` as the libraries spell it (lower case), or None."""
    return str((spec.quantization_config or {}).get("quant_method", "")).lower() or None


def attention_kernel(spec: ModelSpec, w) -> str:
    """The attention kernel the engine runs for ``w``: transformers runs eager where the model has
    no sdpa kernel (``_supports_sdpa = False``: Gemma-2, gpt-oss), whatever was asked."""
    if w.engine == "hf" and w.attn_implementation == "sdpa" and not spec.supports_sdpa:
        return "eager"
    return w.attn_implementation


def engine_load(spec: ModelSpec, workload, gpu=None, has_gpu: bool = True) -> EngineLoad:
    """The engine's load of ``spec`` for ``workload`` (its quant, dtype and engine) on ``gpu`` (a
    catalog GpuType: the GPU transformers checks, CUDA device 0, or the type vLLM runs on; None when
    unknown, taken to support every method); ``has_gpu=False`` for a machine without one."""
    if workload.engine == "vllm":
        from planner.engines.vllm_rules import vllm_load

        return vllm_load(spec, workload, gpu)
    from planner.engines.transformers_rules import transformers_load

    return transformers_load(spec, workload, gpu, has_gpu)

"""ModelSpec + Workload -> per-unit costs (weights, KV cache, activation peak) and totals."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from planner.costs.activations import unit_activation_bytes
from planner.costs.kv_cache import kv_layer_bytes, state_bytes
from planner.costs.quant import QuantScheme
from planner.costs.weights import unit_weight_bytes
from planner.engines.load import EngineLoad, attention_kernel, engine_load
from planner.model.context_limit import check_context
from planner.model.types import ModelSpec
from planner.recent import by_identity
from planner.units import DTYPE_BITS
from planner.workload import Workload


@dataclass(frozen=True, slots=True)
class UnitCost:
    name: str
    kind: str
    parameters: int
    weights_bytes: int
    """Its weights as the engine holds them on a GPU."""
    kv_bytes: int
    activation_peak_bytes: int
    host_weights_bytes: int = -1
    """Its weights as held on the CPU or disk, what crosses the host link when it runs there (more
    than on a GPU where the engine leaves offloaded modules unquantized; its buffers left out,
    see ``buffer_bytes``); -1: the same as ``weights_bytes``."""
    offloadable: bool = True
    """False when the engine will not keep this unit off the GPUs (EngineLoad's refusals)."""
    buffer_bytes: int = 0
    """Its buffers (rotary tables, position ids, scales): counted in ``weights_bytes`` on a GPU, but
    when it is offloaded accelerate keeps them on the execution device (``offload_buffers=False``)."""

    @property
    def hosted_bytes(self) -> int:
        return self.weights_bytes if self.host_weights_bytes < 0 else self.host_weights_bytes


@dataclass(frozen=True)
class Profile:
    """Exact costs of one model under one workload."""

    spec: ModelSpec
    workload: Workload
    dtype: str
    kv_dtype: str
    quant: QuantScheme | None
    units: tuple[UnitCost, ...]
    image_tokens: int = 0
    """Tokens the images of one sequence add to its text (Workload.images x patches / the model's
    merge): the KV cache, the text layers' activations and the context limit count them."""
    load: EngineLoad | None = None
    """How the engine loads the model (engines/): layouts, refusals, the recipe that asks for them."""
    gpu: object | None = None
    """The catalog GPU type the engine's rules were checked on (GPU 0 for transformers), if known."""
    has_gpu: bool = True

    @property
    def attention(self) -> str:
        """The attention kernel the engine runs (the workload keeps what was asked)."""
        return attention_kernel(self.spec, self.workload)

    @cached_property
    def parameters(self) -> int:
        return self.spec.parameters

    @cached_property
    def weights_bytes(self) -> int:
        return sum(u.weights_bytes for u in self.units)

    @cached_property
    def routed_expert_bytes(self) -> dict[str, int]:
        """Per unit name, the bytes of its routed-expert tensors (whole model, before tensor
        parallelism): the share of the weights a decode step reads only in part."""
        from planner.costs.weights import tensor_bytes

        bits = DTYPE_BITS[self.dtype]
        return {u.name: sum(tensor_bytes(t, bits, self.quant) for t in u.tensors if t.experts > 1) for u in self.spec.units}

    @cached_property
    def routed_mlp(self):
        """The routed-expert MLP of the model's MoE layers (None for a dense model): the top-k and
        expert count that decide how much of those bytes a decode step reads."""
        return next((u.mlp for u in self.spec.units if u.mlp and u.mlp.experts), None)

    @property
    def kv_bytes(self) -> int:
        return sum(u.kv_bytes for u in self.units)

    @property
    def activation_peak_bytes(self) -> int:
        """Largest single-unit peak: activations are transient, one unit runs at a time."""
        return max((u.activation_peak_bytes for u in self.units), default=0)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.activation_peak_bytes


def resolve_dtype(spec: ModelSpec, w: Workload) -> str:
    """The workload's dtype, else what ``from_pretrained(dtype="auto")`` gives (ModelSpec.default_dtype)."""
    if w.dtype:
        return w.dtype
    if spec.dtype_error:
        from planner.errors import ConfigError

        raise ConfigError(spec.dtype_error)
    return spec.default_dtype


@by_identity(16)  # weights do not depend on the workload; the diagnosis and sweeps profile one model many times
def _unit_weights(spec: ModelSpec, bits: int, scheme: QuantScheme | None) -> list[int]:
    """Per-unit weight bytes of a spec at a width and quantization scheme."""
    return [unit_weight_bytes(u, bits, scheme) for u in spec.units]


@by_identity(16)
def _unit_buffers(spec: ModelSpec, bits: int) -> list[int]:
    """Per-unit bytes of buffers (never quantized)."""
    from planner.costs.weights import tensor_bytes

    return [sum(tensor_bytes(t, bits) for t in u.tensors if t.kind == "buffer") for u in spec.units]


def profile(spec: ModelSpec, w: Workload, gpu=None, has_gpu: bool = True) -> Profile:
    """Exact costs of ``spec`` under ``w``, as the workload's engine loads it (engines/) on ``gpu``
    (a catalog GpuType; None: a GPU that supports every method), or on a machine with none."""
    dtype = resolve_dtype(spec, w)
    bits = DTYPE_BITS[dtype]
    kv_dtype = w.kv_dtype or dtype
    kv_bits = DTYPE_BITS[kv_dtype]
    load = engine_load(spec, w, gpu, has_gpu)
    images = image_tokens(spec, w)
    user_w = w
    if images:  # the sequence the language model reads: the text and the images' tokens; patches as the model takes them
        w = w.model_copy(update={"prompt_tokens": w.prompt_tokens + images, "image_patches": image_patches(spec, w)})
    if w.mode == "inference":
        check_context(spec, w.total_tokens, "prompt + images + new tokens" if images else "prompt + new tokens",
                      f"keep --prompt-tokens + --new-tokens{' + the images' if images else ''} at {{limit}}")
    if attention_kernel(spec, w) != w.attn_implementation:
        w = w.model_copy(update={"attn_implementation": attention_kernel(spec, w)})
    act_w = _vllm_step(w) if w.engine == "vllm" else w
    weights = _unit_weights(spec, bits, load.scheme)
    hosted = weights if load.host_scheme == load.scheme else _unit_weights(spec, bits, load.host_scheme)
    everywhere = not load.refuses_offload
    costs = []
    buffers = _unit_buffers(spec, bits)
    for u, weight, host, buf in zip(spec.units, weights, hosted, buffers, strict=True):
        costs.append(
            UnitCost(
                u.name, u.kind, u.parameters, weight, kv_layer_bytes(u.attention, w, kv_bits) + state_bytes(u, w, bits),
                unit_activation_bytes(u, act_w, bits, spec.vocab_size), -1 if host - buf == weight else host - buf,
                everywhere and u.name not in load.gpu_only_units, buf,
            )
        )
    return Profile(spec, user_w, dtype, kv_dtype, load.scheme, tuple(costs), images, load, gpu, has_gpu)


def image_tokens(spec: ModelSpec, w: Workload) -> int:
    """Tokens ``w.images`` add to one sequence of ``spec``'s language model; refused for a model
    without a vision tower."""
    if not w.images:
        return 0
    if not any(u.tower == "vision" for u in spec.units):
        from planner.errors import InputError

        raise InputError(f"images: {spec.name} has no vision tower to read images with; drop --images or use a VLM")
    return w.images * -(-image_patches(spec, w) // spec.image_merge)


def image_patches(spec: ModelSpec, w: Workload) -> int:
    """Vision patches of one image: as asked, else the model's fixed resolution (LLaVA-1.5: 336 / 14
    squared, 576), else 1024 (a 448 x 448 image at patch 14, for towers of any resolution)."""
    from planner.costs.activations import DEFAULT_IMAGE_PATCHES

    return w.image_patches or spec.image_patches or DEFAULT_IMAGE_PATCHES


def reprofile(prof: Profile, **workload_changes) -> Profile:
    """The same model on the same GPU under a changed workload (the diagnosis's and sizing's what-ifs)."""
    return profile(prof.spec, prof.workload.model_copy(update=workload_changes), prof.gpu, prof.has_gpu)


def on_gpu(prof: Profile, gpu, has_gpu: bool = True) -> Profile:
    """The profile as the engine loads it on ``gpu`` (the same one when the GPU changes nothing)."""
    if getattr(prof.gpu, "name", None) == getattr(gpu, "name", None) and prof.has_gpu == has_gpu:
        return prof
    return profile(prof.spec, prof.workload, gpu, has_gpu)


VLLM_STEP_TOKENS = 8192
"""vLLM's default max_num_batched_tokens for ``vllm serve`` on cards of 70 GiB or more (2048 on
smaller ones, costs/vllm.py): chunked prefill runs at most this many tokens per forward pass."""


def _vllm_step(w: Workload) -> Workload:
    """The forward pass vLLM runs for this workload: all sequences' tokens flattened into one
    batch, prefilled in chunks of at most VLLM_STEP_TOKENS. Its activation peak is what an
    engine-vllm estimate reports."""
    return vllm_step_workload(w, min(w.batch * w.total_tokens, VLLM_STEP_TOKENS))


def vllm_step_workload(w: Workload, tokens: int) -> Workload:
    """One vLLM forward pass of ``tokens`` batched tokens: one flattened sequence, flash
    attention, the last position's logits (the one rule ``size`` and ``estimate`` share)."""
    return w.model_copy(update={"batch": 1, "prompt_tokens": max(tokens, 1), "new_tokens": 0, "logits": "last",
                                "attn_implementation": "flash_attention_2"})

"""ModelSpec: the ordered placement units of a model, each with its exact tensors.

Unit names are the real module prefixes of the Hugging Face model (``model.layers.17``), so a
plan turns into an accelerate ``device_map`` without guessing. Plain frozen dataclasses: a sweep
builds thousands of these, and they carry no validation logic of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One parameter or buffer.

    Storage bits, in order of precedence: ``fixed_bits`` (integer buffers, tensors read from a
    safetensors header) never change; otherwise the tensor follows the model dtype, capped at
    ``max_bits`` (an fp32 buffer costs 2 bytes in a bf16 model, as accelerate counts it).
    """

    name: str
    shape: tuple[int, ...]
    kind: str = "other"
    """linear | expert_linear | embedding | norm | bias | buffer | other"""
    fixed_bits: int | None = None
    max_bits: int | None = None
    quantizable: bool = False
    """True for the Linear weights a weight quantizer replaces (not routers, heads, norms)."""
    in_features: int = 0
    out_features: int = 0
    experts: int = 1
    tied_to: str | None = None
    """Name of the tensor this one shares storage with; it then costs nothing here."""
    exact_linear: bool = False
    """The weight of a module whose type is exactly ``nn.Linear``, not a subclass (Falcon's
    FalconLinear) or a router class: what bitsandbytes and FineGrainedFP8 replace when transformers
    quantizes while loading (``type(module) is nn.Linear``)."""
    conv1d: bool = False
    """The weight of GPT-2's ``Conv1D`` (a transposed Linear): bitsandbytes replaces it, FineGrainedFP8 does not."""

    @property
    def numel(self) -> int:
        return prod(self.shape)


@dataclass(frozen=True, slots=True)
class AttentionSpec:
    """What the KV cache and the attention activations of one layer depend on."""

    num_heads: int
    num_kv_heads: int
    head_dim: int
    v_head_dim: int
    sliding_window: int | None = None
    kv_lora_rank: int | None = None
    """MLA (DeepSeek): serving engines cache kv_lora_rank + qk_rope_head_dim per token."""
    qk_rope_head_dim: int | None = None
    causal: bool = True
    hf_values_per_token: int | None = None
    """Values per token transformers' own cache holds when that differs from the heads (before
    transformers 5.25 Falcon's new decoder architecture cached K/V expanded to every head; DSA
    layers add indexer keys; a layer that reuses an earlier layer's KV holds 0). Measured on the
    meta device; None: from the heads."""


@dataclass(frozen=True, slots=True)
class MlpSpec:
    """Widths of the feed-forward part, for the activation peak."""

    intermediate: int
    gated: bool = True
    experts: int = 0
    experts_per_token: int = 0
    shared_intermediate: int = 0


@dataclass(frozen=True, slots=True)
class Unit:
    """A placement unit: a module accelerate will never split (or a small leaf module)."""

    name: str
    kind: str
    """embedding | rotary | decoder_layer | norm | head | vision | vision_block | projector | other"""
    tensors: tuple[TensorSpec, ...]
    block_class: str = ""
    hidden_size: int = 0
    tower: str = "text"
    attention: AttentionSpec | None = None
    mlp: MlpSpec | None = None
    layer_index: int | None = None
    family: str = ""
    """model_type of the block, for activation constants that differ by implementation."""
    state_elements: int = 0
    """Fixed-size recurrent state one sequence keeps in this layer's cache (Mamba conv + SSM
    states, gated delta-net states), independent of the context length."""
    activation_per_token: float = 0.0
    """Measured forward peak of this layer, bytes per prompt token in a 16-bit model (meta-device
    MemTracker, fused attention); 0 when the closed form in costs/activations.py applies."""
    activation_base: float = 0.0
    """The measured peak's constant part, bytes."""
    state_fixed_bytes: int = 0
    """Bytes per sequence of state tensors kept at a width of their own (a Mamba SSM state stays
    fp32 in a bf16 model); ``state_elements`` follow the model dtype."""
    eager_per_token2: float = 0.0
    """Measured (meta route): the attention phase of the layer under the model's own eager kernel,
    bytes per batch x tokens^2 (score tensors, the mask, in whatever dtypes its code makes them), in
    a 16-bit model; 0 where the closed form in costs/activations.py applies."""
    eager_per_token: float = 0.0
    """The eager kernel's attention phase, bytes per batch x token (its linear part)."""
    eager_kept_per_token2: float = 0.0
    """What the eager kernel leaves alive for the rest of the layer (the mask, attention weights a
    layer keeps), bytes per batch x tokens^2."""
    eager32_per_token2: float = 0.0
    """The same three for an fp32 model, measured apart: the eager kernels' dtypes differ by model
    dtype (a 16-bit model's softmax makes an fp32 copy, an fp32 model's does not)."""
    eager32_per_token: float = 0.0
    eager32_kept_per_token2: float = 0.0
    logits_copies: float = 1.0
    """Head only: logits-sized tensors alive at the head's peak, in units of one batch x positions
    x vocab tensor of the model dtype (2 for a scale or soft-cap applied after the head, 3 for an
    fp32 copy of bf16 logits); measured on the meta route, set by the family otherwise."""

    @property
    def parameters(self) -> int:
        """Parameters of this unit: buffers excluded, a tensor tied to another unit's not counted
        again. The one parameter-count rule (ModelSpec.parameters sums it)."""
        return sum(t.numel for t in self.tensors if t.kind != "buffer" and t.tied_to is None)


def layer_indices(units) -> list[int]:
    """Indices of the decoder layers among ``units``: the one reading of which units are the
    language model's layers (pipeline stages, layer partitions, per-layer passes all count them)."""
    return [i for i, u in enumerate(units) if u.kind == "decoder_layer"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A model as the planner sees it: units in execution order plus what the costs need."""

    name: str
    model_type: str
    architecture: str
    units: tuple[Unit, ...]
    no_split_modules: tuple[str, ...] = ()
    tied_groups: tuple[tuple[str, ...], ...] = ()
    """Groups of unit names that must share a device because they share a tensor."""
    default_dtype: str = "bf16"
    """The compute dtype ``from_pretrained(dtype="auto")`` gives the unquantized weights."""
    dtype_from: str = "config"
    """Where ``default_dtype`` comes from: config | checkpoint (the config names none: the first
    floating tensor of the checkpoint, transformers' rule) | unnamed (neither: fp32, what
    ``from_config`` builds) | unknown (the config names a dtype the planner does not size)."""
    dtype_error: str | None = None
    """Why the default dtype cannot be used (dtype_from unknown): raised unless a dtype is given."""
    vocab_size: int = 0
    hidden_size: int = 0
    source: str = "config"
    """config | safetensors"""
    quantization_config: dict | None = None
    """The checkpoint's own quantization_config (e.g. DeepSeek-R1's fp8 blocks), if any."""
    notes: tuple[str, ...] = field(default=())
    repo_id: str | None = None
    """The Hugging Face Hub repo the model is named by there (exports use it, not a catalog alias)."""
    revision: str | None = None
    supports_sdpa: bool = True
    """transformers runs the model's attention with sdpa when asked; False (Gemma-2, gpt-oss:
    ``_supports_sdpa = False``) means it runs eager whatever is asked."""
    image_patches: int | None = None
    """Vision patches of one image at the resolution the tower is built for ((image_size /
    patch_size)^2: 576 for LLaVA-1.5's 336-pixel CLIP); None for towers of any resolution (Qwen2-VL)."""
    image_merge: int = 1
    """Vision patches per token the language model sees of an image (Qwen2-VL merges 2 x 2
    patches: 4; LLaVA passes each patch on: 1)."""
    max_model_len: int | None = None
    """Longest context a serving engine accepts (vLLM's rule, model/context_limit.py); None unknown."""
    max_model_len_source: str = ""

    def unit(self, name: str) -> Unit:
        for unit in self.units:
            if unit.name == name:
                return unit
        raise KeyError(name)

    @property
    def decoder_layers(self) -> list[int]:
        """Indices of the decoder layers among the units (``layer_indices``)."""
        return layer_indices(self.units)

    @property
    def parameters(self) -> int:
        """Parameter count with tied tensors counted once (buffers excluded)."""
        return sum(u.parameters for u in self.units)

"""Attention and feed-forward shapes of one decoder layer of a meta-built model, from its config.

transformers names per-layer attention kinds in ``layer_types`` (see ``ALLOWED_ATTN_LAYER_TYPES``
in its configuration_utils): full, sliding, chunked, and recurrent kinds (mamba, gated delta
net, lightning) that keep a fixed-size state instead of a growing KV cache. A config without
``layer_types`` has one kind for every layer: sliding when it sets ``sliding_window`` (and does
not switch it off with ``use_sliding_window: false``), else full.
"""

from __future__ import annotations

from typing import Any

from planner.model.types import AttentionSpec, MlpSpec

FULL = {"full_attention", "attention", "global", "full", "hybrid", "indexed_attention", "compressed_sparse_attention",
        "heavily_compressed_attention", "minimax_m3_sparse"}
SLIDING = {"sliding_attention", "window_attention", "hybrid_sliding", "local", "reference_sliding_attention", "sliding"}
CHUNKED = {"chunked_attention"}
NO_KV = {"linear_attention", "conv", "moe", "mamba", "recurrent", "linear", "mlp"}
"""Layer kinds with no growing KV cache (their recurrent state, if any, is fixed-size)."""


def _int(cfg: Any, *names: str, index: int | None = None) -> int | None:
    """The first of ``names`` that is a positive int on a config or a module (a per-layer list
    read at ``index``)."""
    for name in names:
        value = getattr(cfg, name, None)
        if isinstance(value, list | tuple) and index is not None and index < len(value):
            value = value[index]
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def text_dims(text: Any) -> tuple[int, int]:
    """(vocab, hidden) of the text config."""
    return _int(text, "vocab_size") or 0, _int(text, "hidden_size", "n_embd", "d_model", "dim") or 0


def vision_width(vision: Any) -> int:
    """Width of a vision tower's blocks (Qwen2-VL's ``hidden_size`` is the merger's output)."""
    return _int(vision, "embed_dim", "hidden_size", "width", "dim") or 0


def layer_kind(text: Any, index: int) -> str | None:
    types = getattr(text, "layer_types", None) or getattr(text, "layers_block_type", None)
    if isinstance(types, list | tuple) and index < len(types) and isinstance(types[index], str):
        return types[index]
    return None


def attention_module(module):
    """The layer's attention submodule (class name ending in Attention), if any."""
    return next((m for m in module.modules() if type(m).__name__.endswith(("Attention", "Attention2"))
                 and "Linear" not in type(m).__name__), None)


def attention_for_layer(text: Any, index: int, module) -> AttentionSpec | None:
    """What the KV cache of layer ``index`` holds per token; None for a layer without KV.

    The attention module's own attributes come first (transformers sets ``num_kv_heads``,
    ``head_dim``, ``sliding_window`` per layer there), the config's fields after them."""
    kind = layer_kind(text, index)
    attn = attention_module(module)
    if kind in NO_KV or (kind not in FULL | SLIDING | CHUNKED and attn is None):
        return None
    attn = attn if attn is not None else module
    hidden = text_dims(text)[1]
    heads = _int(attn, "num_heads", "num_attention_heads") or _int(text, "num_attention_heads", "n_head", "num_heads", index=index) or 1
    groups = _int(attn, "num_key_value_groups")
    kv = _int(attn, "num_key_value_heads", "num_kv_heads") or (heads // groups if groups else None) or \
        _int(text, "num_key_value_heads", "num_kv_heads", "n_head_kv", index=index) or heads
    if hasattr(attn, "sliding_window"):
        window = _int(attn, "sliding_window")
    elif kind in SLIDING or (kind is None and getattr(text, "use_sliding_window", True) is not False):
        window = _int(text, "sliding_window", "sliding_window_size")
    else:
        window = _int(text, "attention_chunk_size") if kind in CHUNKED else None
    kv_lora = _int(attn, "kv_lora_rank") or _int(text, "kv_lora_rank")
    if kv_lora:
        rope = _int(attn, "qk_rope_head_dim") or _int(text, "qk_rope_head_dim") or 0
        nope = _int(attn, "qk_nope_head_dim") or _int(text, "qk_nope_head_dim") or 0
        v_dim = _int(attn, "v_head_dim") or _int(text, "v_head_dim") or nope
        return AttentionSpec(heads, heads, rope + nope, v_dim, window, kv_lora, rope)
    head_dim = _int(attn, "head_dim") or _int(text, "head_dim", "attention_head_dim") or (hidden // heads if heads else 0)
    return AttentionSpec(heads, kv, head_dim, _int(text, "v_head_dim") or head_dim, window)


def vision_attention(module) -> AttentionSpec | None:
    """Bidirectional attention of a vision block (no KV cache; shapes for the activation peak)."""
    attn = attention_module(module)
    if attn is None:
        return None
    heads = _int(attn, "num_heads", "num_attention_heads") or 1
    head_dim = _int(attn, "head_dim") or (_int(attn, "embed_dim", "dim") or 0) // heads
    return AttentionSpec(heads, heads, head_dim, head_dim, causal=False)


def _gated(module) -> bool:
    params = " ".join(n for n, _ in module.named_parameters())
    return any(k in params for k in ("gate_proj", "gate_up", "w3", "w13"))


def block_mlp(module, hidden: int) -> MlpSpec | None:
    """Widths of a block's feed-forward part read from its Linears (vision towers)."""
    import torch

    mlp = next((m for n, m in module.named_modules() if n.rsplit(".", 1)[-1] in ("mlp", "feed_forward", "ffn")), None)
    if mlp is None:
        return None
    widths = [m.out_features for m in mlp.modules() if isinstance(m, torch.nn.Linear) and m.out_features != hidden]
    return MlpSpec(max(widths), _gated(mlp)) if widths else None


def block_hidden(module, default: int) -> int:
    """A block's width: the size of its first norm weight (vision embed_dim differs from the text's)."""
    for name, p in module.named_parameters():
        if "norm" in name and p.dim() == 1:
            return int(p.shape[0])
    return default


def mlp_for_layer(text: Any, index: int, module) -> MlpSpec:
    names = [n for n, _ in module.named_modules()]
    moe = any(n.endswith("experts") for n in names)
    gated = _gated(module)
    hidden = text_dims(text)[1]
    if not moe:
        return MlpSpec(_int(text, "intermediate_size", "ffn_dim", "n_inner", index=index) or 4 * hidden, gated)
    experts = _int(text, "num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts") or 1
    k = _int(text, "num_experts_per_tok", "moe_topk", "top_k", "num_experts_per_token") or 1
    inter = _int(text, "moe_intermediate_size", "expert_intermediate_size", "intermediate_size", index=index) or 4 * hidden
    shared = _int(text, "shared_expert_intermediate_size") or inter * (_int(text, "n_shared_experts", "num_shared_experts") or 0)
    return MlpSpec(inter, True, experts, k, shared if any("shared" in n for n in names) else 0)

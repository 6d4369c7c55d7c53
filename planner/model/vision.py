"""Vision towers and projectors of the supported VLMs, in the transformers 5 layout."""

from __future__ import annotations

from planner.model import layers as spec_layers
from planner.model.config_view import ConfigView, head_size
from planner.model.types import AttentionSpec, MlpSpec, Unit


def _vit_layer(p: str, e: int, inter: int) -> list:
    """A CLIP/SigLIP encoder layer (q/k/v/out projections with biases, two LayerNorms, fc1/fc2)."""
    t = []
    for name in ("k_proj", "v_proj", "q_proj", "out_proj"):
        t += spec_layers.linear(f"{p}.self_attn.{name}", e, e, True)
    return t + spec_layers.norm(f"{p}.layer_norm1", e, True) + spec_layers.linear(f"{p}.mlp.fc1", e, inter, True) + spec_layers.linear(f"{p}.mlp.fc2", inter, e, True) + spec_layers.norm(f"{p}.layer_norm2", e, True)


def clip_like_tower(v: ConfigView, base: str, kind: str) -> list[Unit]:
    """CLIP (llava) or SigLIP (llava-onevision) vision tower under ``base``."""
    siglip = kind.startswith("siglip")
    e = v.int("hidden_size", default=1152 if siglip else 1024)
    inter = v.int("intermediate_size", default=4304 if siglip else 4096)
    n_layers = v.int("num_hidden_layers", default=27 if siglip else 24)
    heads = v.int("num_attention_heads", default=16)
    image = v.int("image_size", default=384 if siglip else 336)
    patch = v.int("patch_size", default=14)
    ch = v.int("num_channels", default=3)
    n_pos = (image // patch) ** 2 + (0 if siglip else 1)
    emb = f"{base}.embeddings"
    tensors = [] if siglip else [spec_layers.param(f"{emb}.class_embedding", (e,))]
    tensors.append(spec_layers.param(f"{emb}.patch_embedding.weight", (e, ch, patch, patch)))
    if siglip:
        tensors.append(spec_layers.param(f"{emb}.patch_embedding.bias", (e,), "bias"))
    tensors += spec_layers.embedding(f"{emb}.position_embedding", n_pos, e) + [spec_layers.int64_buffer(f"{emb}.position_ids", (1, n_pos))]
    block = "SiglipEncoderLayer" if siglip else "CLIPEncoderLayer"
    units = [Unit(emb, "vision", tuple(tensors), "SiglipVisionEmbeddings" if siglip else "CLIPVisionEmbeddings", e, "vision")]
    if not siglip:
        units.append(Unit(f"{base}.pre_layrnorm", "vision", tuple(spec_layers.norm(f"{base}.pre_layrnorm", e, True)), hidden_size=e, tower="vision"))
    hd = head_size(e, heads)
    for i in range(n_layers):
        p = f"{base}.encoder.layers.{i}"
        units.append(Unit(p, "vision_block", tuple(_vit_layer(p, e, inter)), block, e, "vision",
                          AttentionSpec(heads, heads, hd, hd, causal=False), MlpSpec(inter, gated=False), i))
    units.append(Unit(f"{base}.post_layernorm", "vision", tuple(spec_layers.norm(f"{base}.post_layernorm", e, True)), hidden_size=e, tower="vision"))
    if siglip and v.bool("vision_use_head", True):
        h = f"{base}.head"
        t = [spec_layers.param(f"{h}.probe", (1, 1, e)), spec_layers.param(f"{h}.attention.in_proj_weight", (3 * e, e)),
             spec_layers.param(f"{h}.attention.in_proj_bias", (3 * e,), "bias")]
        t += spec_layers.linear(f"{h}.attention.out_proj", e, e, True) + spec_layers.norm(f"{h}.layernorm", e, True)
        t += spec_layers.linear(f"{h}.mlp.fc1", e, inter, True) + spec_layers.linear(f"{h}.mlp.fc2", inter, e, True)
        units.append(Unit(h, "vision", tuple(t), "SiglipMultiheadAttentionPoolingHead", e, "vision"))
    return units


def llava_projector(cfg: ConfigView, vision_hidden: int, text_hidden: int, base: str) -> Unit:
    layers = cfg.raw("vision_feature_layer", default=-1)
    n_feat = len(layers) if isinstance(layers, list) else 1
    bias = cfg.bool("multimodal_projector_bias", True)
    p = f"{base}.multi_modal_projector"
    t = spec_layers.linear(f"{p}.linear_1", vision_hidden * n_feat, text_hidden, bias, quantizable=False)
    t += spec_layers.linear(f"{p}.linear_2", text_hidden, text_hidden, bias, quantizable=False)
    return Unit(p, "projector", tuple(t), hidden_size=text_hidden, tower="vision")


def qwen_vl_tower(v: ConfigView, base: str, v25: bool, text_hidden: int) -> list[Unit]:
    """Qwen2-VL / Qwen2.5-VL vision transformer (``model.visual``)."""
    if v25:
        e = v.int("hidden_size", default=1280)
        inter = v.int("intermediate_size", default=3420)
        out = v.int("out_hidden_size", default=text_hidden)
    else:
        e = v.int("embed_dim", default=1280)
        inter = int(e * v.float("mlp_ratio", 4))
        out = v.int("hidden_size", default=text_hidden)
    depth = v.int("depth", default=32)
    heads = v.int("num_heads", default=16)
    patch = v.int("patch_size", default=14)
    tp = v.int("temporal_patch_size", default=2)
    ch = v.int("in_channels", "in_chans", default=3)
    merge = v.int("spatial_merge_size", default=2)
    hd = head_size(e, heads)
    units = [
        Unit(f"{base}.patch_embed", "vision", (spec_layers.param(f"{base}.patch_embed.proj.weight", (e, ch, tp, patch, patch)),), hidden_size=e, tower="vision"),
        Unit(f"{base}.rotary_pos_emb", "rotary", tuple(spec_layers.rotary(f"{base}.rotary_pos_emb", hd // 2)), hidden_size=e, tower="vision"),
    ]
    block = "Qwen2_5_VLVisionBlock" if v25 else "Qwen2VLVisionBlock"
    for i in range(depth):
        p = f"{base}.blocks.{i}"
        t = spec_layers.norm(f"{p}.norm1", e, not v25) + spec_layers.norm(f"{p}.norm2", e, not v25)
        t += spec_layers.linear(f"{p}.attn.qkv", e, 3 * e, True) + spec_layers.linear(f"{p}.attn.proj", e, e, True)
        if v25:
            t += (spec_layers.linear(f"{p}.mlp.gate_proj", e, inter, True) + spec_layers.linear(f"{p}.mlp.up_proj", e, inter, True)
                  + spec_layers.linear(f"{p}.mlp.down_proj", inter, e, True))
        else:
            t += spec_layers.linear(f"{p}.mlp.fc1", e, inter, True) + spec_layers.linear(f"{p}.mlp.fc2", inter, e, True)
        units.append(Unit(p, "vision_block", tuple(t), block, e, "vision", AttentionSpec(heads, heads, hd, hd, causal=False),
                          MlpSpec(inter, gated=v25), i))
    m = f"{base}.merger"
    ctx = e * merge * merge
    t = spec_layers.norm(f"{m}.ln_q", e, not v25) + spec_layers.linear(f"{m}.mlp.0", ctx, ctx, True, quantizable=False)
    t += spec_layers.linear(f"{m}.mlp.2", ctx, out, True, quantizable=False)
    units.append(Unit(m, "projector", tuple(t), hidden_size=out, tower="vision"))
    return units

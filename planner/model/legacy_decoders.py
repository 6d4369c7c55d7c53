"""GPT-2, OPT and Falcon: older layouts with their own module names."""

from __future__ import annotations

from planner.model import layers as spec_layers
from planner.model.config_view import ConfigView, head_size
from planner.model.library_versions import transformers_at_least
from planner.model.types import AttentionSpec, MlpSpec, Unit


def gpt2_units(cfg: ConfigView) -> tuple[list[Unit], int, int, bool]:
    h = cfg.int("n_embd", "hidden_size", default=768)
    n_layers = cfg.int("n_layer", "num_hidden_layers", default=12)
    heads = cfg.int("n_head", "num_attention_heads", default=12)
    vocab = cfg.int("vocab_size", default=50257)
    positions = cfg.int("n_positions", "max_position_embeddings", default=1024)
    inner = cfg.int("n_inner", default=4 * h)
    units = [
        Unit("transformer.wte", "embedding", tuple(spec_layers.embedding("transformer.wte", vocab, h)), hidden_size=h),
        Unit("transformer.wpe", "embedding", tuple(spec_layers.embedding("transformer.wpe", positions, h)), hidden_size=h),
    ]
    hd = head_size(h, heads)
    for i in range(n_layers):
        p = f"transformer.h.{i}"
        tensors = (
            spec_layers.norm(f"{p}.ln_1", h, True)
            + spec_layers.linear(f"{p}.attn.c_attn", h, 3 * h, True, conv1d=True)
            + spec_layers.linear(f"{p}.attn.c_proj", h, h, True, conv1d=True)
            + spec_layers.norm(f"{p}.ln_2", h, True)
            + spec_layers.linear(f"{p}.mlp.c_fc", h, inner, True, conv1d=True)
            + spec_layers.linear(f"{p}.mlp.c_proj", inner, h, True, conv1d=True)
        )
        units.append(Unit(p, "decoder_layer", tuple(tensors), "GPT2Block", h, "text", AttentionSpec(heads, heads, hd, hd),
                          MlpSpec(inner, gated=False), i, "gpt2"))
    units.append(Unit("transformer.ln_f", "norm", tuple(spec_layers.norm("transformer.ln_f", h, True)), hidden_size=h))
    return units, vocab, h, True


def opt_units(cfg: ConfigView) -> tuple[list[Unit], int, int, bool]:
    h = cfg.int("hidden_size", default=768)
    n_layers = cfg.int("num_hidden_layers", default=12)
    heads = cfg.int("num_attention_heads", default=12)
    vocab = cfg.int("vocab_size", default=50272)
    ffn = cfg.int("ffn_dim", default=3072)
    proj = cfg.int("word_embed_proj_dim", default=h)
    positions = cfg.int("max_position_embeddings", default=2048)
    bias = cfg.bool("enable_bias", True)
    affine = cfg.bool("layer_norm_elementwise_affine", True)
    base = "model.decoder"
    units = [
        Unit(f"{base}.embed_tokens", "embedding", tuple(spec_layers.embedding(f"{base}.embed_tokens", vocab, proj)), hidden_size=h),
        Unit(f"{base}.embed_positions", "embedding", tuple(spec_layers.embedding(f"{base}.embed_positions", positions + 2, h)), hidden_size=h),
    ]
    # transformers registers these before the layers: project_out, project_in, final_layer_norm
    if proj != h:
        units.append(Unit(f"{base}.project_out", "other", tuple(spec_layers.linear(f"{base}.project_out", h, proj, quantizable=False)), hidden_size=h))
        units.append(Unit(f"{base}.project_in", "other", tuple(spec_layers.linear(f"{base}.project_in", proj, h, quantizable=False)), hidden_size=h))

    def ln(name: str) -> list:
        return spec_layers.norm(name, h, True) if affine else []

    if cfg.bool("do_layer_norm_before", True) and not cfg.bool("_remove_final_layer_norm", False) and affine:
        units.append(Unit(f"{base}.final_layer_norm", "norm", tuple(spec_layers.norm(f"{base}.final_layer_norm", h, True)), hidden_size=h))

    hd = head_size(h, heads)
    for i in range(n_layers):
        p = f"{base}.layers.{i}"
        tensors = []
        for name in ("k_proj", "v_proj", "q_proj", "out_proj"):
            tensors += spec_layers.linear(f"{p}.self_attn.{name}", h, h, bias)
        tensors += ln(f"{p}.self_attn_layer_norm") + spec_layers.linear(f"{p}.fc1", h, ffn, bias) + spec_layers.linear(f"{p}.fc2", ffn, h, bias)
        tensors += ln(f"{p}.final_layer_norm")
        units.append(Unit(p, "decoder_layer", tuple(tensors), "OPTDecoderLayer", h, "text", AttentionSpec(heads, heads, hd, hd),
                          MlpSpec(ffn, gated=False), i, "opt"))
    return units, vocab, proj, True


def falcon_units(cfg: ConfigView) -> tuple[list[Unit], int, int, bool]:
    h = cfg.int("hidden_size", default=4544)
    n_layers = cfg.int("num_hidden_layers", "n_layer", default=32)
    heads = cfg.int("num_attention_heads", "n_head", default=71)
    vocab = cfg.int("vocab_size", default=65024)
    hd = cfg.int("head_dim") if cfg.opt_int("head_dim") else head_size(h, heads)
    new_arch = cfg.bool("new_decoder_architecture", False)
    multi_query = cfg.bool("multi_query", True)
    parallel = cfg.bool("parallel_attn", True)
    bias = cfg.bool("bias", False)
    ffn = cfg.int("ffn_hidden_size", default=4 * h)
    if new_arch:
        kv = cfg.int("num_kv_heads", "n_head_kv", default=heads)
    else:
        kv = 1 if multi_query else heads
    qkv_out = (heads + 2 * kv) * hd if (new_arch or multi_query) else 3 * h
    units = [Unit("transformer.word_embeddings", "embedding", tuple(spec_layers.embedding("transformer.word_embeddings", vocab, h)), hidden_size=h)]
    # before transformers 5.25 the new decoder architecture expanded K/V to every head before caching them
    hf_values = 2 * heads * hd if new_arch and kv != heads and not transformers_at_least(5, 25) else None
    attention = AttentionSpec(heads, kv, hd, hd, hf_values_per_token=hf_values)
    for i in range(n_layers):
        p = f"transformer.h.{i}"
        tensors = spec_layers.linear(f"{p}.self_attention.query_key_value", h, qkv_out, bias, exact=False)
        tensors += spec_layers.linear(f"{p}.self_attention.dense", h, h, bias, exact=False)
        tensors += spec_layers.linear(f"{p}.mlp.dense_h_to_4h", h, ffn, bias, exact=False) + spec_layers.linear(f"{p}.mlp.dense_4h_to_h", ffn, h, bias, exact=False)
        if not parallel:
            tensors += spec_layers.norm(f"{p}.post_attention_layernorm", h, True) + spec_layers.norm(f"{p}.input_layernorm", h, True)
        elif cfg.int("num_ln_in_parallel_attn", default=2 if new_arch else 1) == 2:
            tensors += spec_layers.norm(f"{p}.ln_attn", h, True) + spec_layers.norm(f"{p}.ln_mlp", h, True)
        else:
            tensors += spec_layers.norm(f"{p}.input_layernorm", h, True)
        units.append(Unit(p, "decoder_layer", tuple(tensors), "FalconDecoderLayer", h, "text", attention,
                          MlpSpec(ffn, gated=False), i, "falcon"))
    units.append(Unit("transformer.ln_f", "norm", tuple(spec_layers.norm("transformer.ln_f", h, True)), hidden_size=h))
    # transformers 5 registers the rotary module (and its buffers) even when alibi replaces it
    rot = int(hd * cfg.float("partial_rotary_factor", 1.0))
    units.append(Unit("transformer.rotary_emb", "rotary", tuple(spec_layers.rotary("transformer.rotary_emb", rot)), hidden_size=h))
    return units, vocab, h, True

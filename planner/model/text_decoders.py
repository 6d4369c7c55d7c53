"""Decoder-only text stacks in the transformers 5 layout (llama-like, MoE and MLA families).

Each family differs from llama in a handful of switches (biases, fused projections, extra norms,
experts); one builder reads those switches from the config. Defaults for missing keys are the
ones the transformers config class uses, so a sparse config.json sizes like the real library.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from planner.model import layers as spec_layers
from planner.model.config_view import ConfigView, head_size
from planner.model.types import AttentionSpec, MlpSpec, TensorSpec, Unit


@dataclass(frozen=True)
class Family:
    block: str
    """Class name prefix of the no-split decoder layer."""
    defaults: dict
    qkv_bias: bool = False
    qk_norm: bool = False
    fused_projections: bool = False
    """Phi-3's layout: q, k, v in one ``qkv_proj`` and gate, up in one ``gate_up_proj``."""
    sandwich_norms: bool = False
    embed_scale: bool = False
    tie_default: bool = False
    sliding: str = "none"
    """Which layers slide, as each transformers config class builds its layer_types: none |
    all (mistral, mixtral, phi3: every layer once sliding_window is set) | max_window (qwen2,
    qwen3: layers from max_window_layers on, with use_sliding_window) | odd_below_max (qwen2_moe:
    even indices below max_window_layers, with use_sliding_window) | all_if_enabled (qwen3_moe:
    every layer, with use_sliding_window) | alternate (gemma2)"""
    moe: str = ""
    """'' | mixtral | qwen2_moe | qwen3_moe | deepseek"""
    sdpa: bool = True
    """transformers runs the family with sdpa (Gemma-2 has ``_supports_sdpa = False``: eager)."""
    softcap_key: str = ""
    """Config key of a soft-cap applied to the logits after the head (a second logits-sized tensor)."""
    aliases: dict = field(default_factory=dict)
    """Other keys a config.json may give a field under, as the config class's ``attribute_map``
    maps them (transformers 5 writes Qwen3-MoE's expert count as ``num_local_experts``)."""


_LLAMA = dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32)
FAMILIES: dict[str, Family] = {
    "llama": Family("Llama", _LLAMA),
    "mistral": Family("Mistral", dict(_LLAMA, intermediate_size=14336, num_key_value_heads=8, sliding_window=4096), sliding="all"),
    "qwen2": Family("Qwen2", dict(_LLAMA, vocab_size=151936, intermediate_size=22016), qkv_bias=True, sliding="max_window"),
    "qwen3": Family("Qwen3", dict(_LLAMA, vocab_size=151936, intermediate_size=22016, head_dim=128), qk_norm=True, sliding="max_window"),
    "gemma": Family(
        "Gemma", dict(vocab_size=256000, hidden_size=3072, intermediate_size=24576, num_hidden_layers=28,
                      num_attention_heads=16, num_key_value_heads=16, head_dim=256),
        embed_scale=True, tie_default=True,
    ),
    "gemma2": Family(
        "Gemma2", dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26,
                       num_attention_heads=8, num_key_value_heads=4, head_dim=256, sliding_window=4096),
        embed_scale=True, tie_default=True, sandwich_norms=True, sliding="alternate", sdpa=False,
        softcap_key="final_logit_softcapping",
    ),
    "phi3": Family("Phi3", dict(_LLAMA, vocab_size=32064, hidden_size=3072, intermediate_size=8192), fused_projections=True, sliding="all"),
    "mixtral": Family(
        "Mixtral", dict(_LLAMA, intermediate_size=14336, num_key_value_heads=8, num_local_experts=8, num_experts_per_tok=2),
        sliding="all", moe="mixtral", aliases={"num_local_experts": ("num_experts",)},
    ),
    "qwen2_moe": Family(
        "Qwen2Moe", dict(_LLAMA, vocab_size=151936, hidden_size=2048, intermediate_size=5632, num_hidden_layers=24,
                         num_attention_heads=16, num_experts=60, num_experts_per_tok=4, moe_intermediate_size=1408,
                         shared_expert_intermediate_size=5632),
        qkv_bias=True, sliding="odd_below_max", moe="qwen2_moe",
    ),
    "qwen3_moe": Family(
        "Qwen3Moe", dict(_LLAMA, vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=24,
                         num_key_value_heads=4, num_experts=128, num_experts_per_tok=8, moe_intermediate_size=768),
        qk_norm=True, sliding="all_if_enabled", moe="qwen3_moe", aliases={"num_experts": ("num_local_experts",)},
    ),
    "deepseek_v3": Family(
        "DeepseekV3", dict(vocab_size=129280, hidden_size=7168, intermediate_size=18432, num_hidden_layers=61,
                           num_attention_heads=128, num_key_value_heads=128),
        moe="deepseek", aliases={"n_routed_experts": ("num_local_experts",)},
    ),
}


def _get(cfg: ConfigView, fam: Family, key: str, minimum: int = 1, default=None) -> int:
    """A field under its own key or an alias (Family.aliases), else the config class's default."""
    return cfg.int(key, *fam.aliases.get(key, ()), default=fam.defaults.get(key, default), minimum=minimum)


def sliding_windows(cfg: ConfigView, fam: Family, n_layers: int) -> list[int | None]:
    """Per-layer sliding window, following the config's layer_types as transformers builds its cache."""
    # null and 0 are "no window" (Mistral-7B-v0.3 writes null; transformers 5 writes 0 for Qwen2-MoE
    # when use_sliding_window is off); only a missing key takes the config class's default
    window = cfg.opt_int("sliding_window", minimum=0) or None if "sliding_window" in cfg.data else fam.defaults.get("sliding_window")
    types = cfg.str_list("layer_types")
    if types is not None:
        return [window if t in ("sliding_attention", "chunked_attention") else None for t in types[:n_layers]]
    if fam.sliding == "all":
        return [window] * n_layers
    if fam.sliding == "alternate":
        return [window if i % 2 == 0 else None for i in range(n_layers)]
    enabled = cfg.bool("use_sliding_window", False) and window
    limit = cfg.int("max_window_layers", default=28, minimum=0)
    if fam.sliding == "max_window" and enabled:
        return [window if i >= limit else None for i in range(n_layers)]
    if fam.sliding == "odd_below_max" and enabled:
        return [window if (i + 1) % 2 and i < limit else None for i in range(n_layers)]
    if fam.sliding == "all_if_enabled" and enabled:
        return [window] * n_layers
    return [None] * n_layers


def _attention(cfg: ConfigView, fam: Family, p: str, hidden: int, heads: int, kv: int, hd: int) -> list[TensorSpec]:
    if fam.moe == "deepseek":
        return _mla(cfg, p, hidden, heads)
    bias = cfg.bool("attention_bias", False)
    if fam.fused_projections:
        return spec_layers.linear(f"{p}.o_proj", heads * hd, hidden, bias) + spec_layers.linear(f"{p}.qkv_proj", hidden, (heads + 2 * kv) * hd, bias)
    qkv_bias = fam.qkv_bias or bias
    out = (
        spec_layers.linear(f"{p}.q_proj", hidden, heads * hd, qkv_bias)
        + spec_layers.linear(f"{p}.k_proj", hidden, kv * hd, qkv_bias)
        + spec_layers.linear(f"{p}.v_proj", hidden, kv * hd, qkv_bias)
        + spec_layers.linear(f"{p}.o_proj", heads * hd, hidden, bias)
    )
    if fam.qk_norm:
        out += spec_layers.norm(f"{p}.q_norm", hd) + spec_layers.norm(f"{p}.k_norm", hd)
    return out


def _mla(cfg: ConfigView, p: str, hidden: int, heads: int) -> list[TensorSpec]:
    """DeepSeek multi-head latent attention projections."""
    q_lora = cfg.opt_int("q_lora_rank") if "q_lora_rank" in cfg.data else 1536
    kv_lora = cfg.int("kv_lora_rank", default=512)
    rope = cfg.int("qk_rope_head_dim", default=64)
    nope = cfg.int("qk_nope_head_dim", default=128)
    v = cfg.int("v_head_dim", default=128)
    bias = cfg.bool("attention_bias", False)
    qk = rope + nope
    if q_lora is None:
        out = spec_layers.linear(f"{p}.q_proj", hidden, heads * qk)
    else:
        out = spec_layers.linear(f"{p}.q_a_proj", hidden, q_lora, bias) + spec_layers.norm(f"{p}.q_a_layernorm", q_lora)
        out += spec_layers.linear(f"{p}.q_b_proj", q_lora, heads * qk)
    out += spec_layers.linear(f"{p}.kv_a_proj_with_mqa", hidden, kv_lora + rope, bias) + spec_layers.norm(f"{p}.kv_a_layernorm", kv_lora)
    out += spec_layers.linear(f"{p}.kv_b_proj", kv_lora, heads * (nope + v)) + spec_layers.linear(f"{p}.o_proj", heads * v, hidden, bias)
    return out


def _gated(p: str, hidden: int, inter: int, bias: bool = False, fused: bool = False) -> list[TensorSpec]:
    if fused:
        return spec_layers.linear(f"{p}.gate_up_proj", hidden, 2 * inter, bias) + spec_layers.linear(f"{p}.down_proj", inter, hidden, bias)
    return (
        spec_layers.linear(f"{p}.gate_proj", hidden, inter, bias)
        + spec_layers.linear(f"{p}.up_proj", hidden, inter, bias)
        + spec_layers.linear(f"{p}.down_proj", inter, hidden, bias)
    )


def _router(name: str, n_experts: int, hidden: int) -> list[TensorSpec]:
    """The router's weight: a router class of its own in transformers 5 (MixtralTopKRouter, ...),
    not an nn.Linear, so no quantizer replaces it."""
    return [TensorSpec(f"{name}.weight", (n_experts, hidden), "other", max_bits=spec_layers.FLOAT)]


def _moe_experts(p: str, n: int, hidden: int, inter: int) -> list[TensorSpec]:
    return [spec_layers.experts(f"{p}.experts.gate_up_proj", n, hidden, 2 * inter), spec_layers.experts(f"{p}.experts.down_proj", n, inter, hidden)]


def _mlp(cfg: ConfigView, fam: Family, p: str, i: int, hidden: int, n_layers: int) -> tuple[list[TensorSpec], MlpSpec]:
    inter = _get(cfg, fam, "intermediate_size")
    dense = (_gated(p, hidden, inter, cfg.bool("mlp_bias", False), fam.fused_projections), MlpSpec(inter))
    if fam.moe == "mixtral":
        n = _get(cfg, fam, "num_local_experts")
        k = _get(cfg, fam, "num_experts_per_tok")
        return _router(f"{p}.gate", n, hidden) + _moe_experts(p, n, hidden, inter), MlpSpec(inter, True, n, k)
    if fam.moe in ("qwen2_moe", "qwen3_moe"):
        n = _get(cfg, fam, "num_experts", minimum=0)
        step = cfg.int("decoder_sparse_step", default=1)
        if n == 0 or i in (cfg.int_list("mlp_only_layers") or []) or (i + 1) % step != 0:
            return dense
        k = _get(cfg, fam, "num_experts_per_tok")
        moe_inter = _get(cfg, fam, "moe_intermediate_size")
        tensors = _router(f"{p}.gate", n, hidden) + _moe_experts(p, n, hidden, moe_inter)
        shared = 0
        if fam.moe == "qwen2_moe":
            shared = _get(cfg, fam, "shared_expert_intermediate_size")
            tensors += _gated(f"{p}.shared_expert", hidden, shared) + spec_layers.linear(f"{p}.shared_expert_gate", hidden, 1, quantizable=False)
        return tensors, MlpSpec(moe_inter, True, n, k, shared)
    if fam.moe == "deepseek":
        n = _get(cfg, fam, "n_routed_experts", minimum=0, default=256)
        first_dense = cfg.int("first_k_dense_replace", default=3, minimum=0)
        freq = cfg.int("moe_layer_freq", default=1)
        if n == 0 or i < first_dense or i % freq != 0:
            return dense
        k = cfg.int("num_experts_per_tok", default=8)
        moe_inter = cfg.int("moe_intermediate_size", default=2048)
        shared = moe_inter * cfg.int("n_shared_experts", default=1, minimum=0)
        # the router and its bias are _keep_in_fp32_modules_strict: 4 bytes an element in any model dtype
        router = [replace(t, fixed_bits=32) for t in _router(f"{p}.gate", n, hidden)]
        tensors = _moe_experts(p, n, hidden, moe_inter) + router
        tensors.append(spec_layers.fp32_buffer(f"{p}.gate.e_score_correction_bias", (n,)))
        if shared:
            tensors += _gated(f"{p}.shared_experts", hidden, shared)
        return tensors, MlpSpec(moe_inter, True, n, k, shared)
    return dense


def head_dim(cfg: ConfigView, fam_defaults: dict, hidden: int, heads: int) -> int:
    explicit = cfg.opt_int("head_dim")
    if explicit:
        return explicit
    return fam_defaults.get("head_dim") or head_size(hidden, heads)


def text_decoder_units(cfg: ConfigView, model_type: str, base: str, block: str | None = None) -> list[Unit]:
    """Embedding, decoder layers, final norm and rotary of a llama-like stack under ``base``, in the
    order transformers registers them (the order accelerate walks the modules in)."""
    fam = FAMILIES[model_type]
    block = block or f"{fam.block}DecoderLayer"
    hidden = _get(cfg, fam, "hidden_size")
    vocab = _get(cfg, fam, "vocab_size")
    n_layers = _get(cfg, fam, "num_hidden_layers")
    heads = _get(cfg, fam, "num_attention_heads")
    kv = cfg.int("num_key_value_heads", default=fam.defaults.get("num_key_value_heads", heads))
    if fam.moe == "deepseek":
        rope_dim = cfg.int("qk_rope_head_dim", default=64)
        hd = rope_dim + cfg.int("qk_nope_head_dim", default=128)
        v_hd = cfg.int("v_head_dim", default=128)
    else:
        hd = head_dim(cfg, fam.defaults, hidden, heads)
        v_hd = hd
        rope_dim = int(hd * cfg.float("partial_rotary_factor", 1.0))
    embed = spec_layers.embedding(f"{base}.embed_tokens", vocab, hidden)
    if fam.embed_scale:
        embed.append(spec_layers.float_buffer(f"{base}.embed_tokens.embed_scale", ()))
    units = [Unit(f"{base}.embed_tokens", "embedding", tuple(embed), hidden_size=hidden)]
    windows = sliding_windows(cfg, fam, n_layers)
    mla = fam.moe == "deepseek"
    for i in range(n_layers):
        p = f"{base}.layers.{i}"
        tensors = _attention(cfg, fam, f"{p}.self_attn", hidden, heads, kv, hd)
        mlp_tensors, mlp = _mlp(cfg, fam, f"{p}.mlp", i, hidden, n_layers)
        tensors += mlp_tensors + spec_layers.norm(f"{p}.input_layernorm", hidden) + spec_layers.norm(f"{p}.post_attention_layernorm", hidden)
        if fam.sandwich_norms:
            tensors += spec_layers.norm(f"{p}.pre_feedforward_layernorm", hidden) + spec_layers.norm(f"{p}.post_feedforward_layernorm", hidden)
        attn = AttentionSpec(
            heads, heads if mla else kv, hd, v_hd, windows[i] if i < len(windows) else None,
            kv_lora_rank=cfg.int("kv_lora_rank", default=512) if mla else None,
            qk_rope_head_dim=rope_dim if mla else None,
        )
        units.append(Unit(p, "decoder_layer", tuple(tensors), block, hidden, "text", attn, mlp, i, model_type))
    units.append(Unit(f"{base}.norm", "norm", tuple(spec_layers.norm(f"{base}.norm", hidden)), hidden_size=hidden))
    units.append(Unit(f"{base}.rotary_emb", "rotary", tuple(spec_layers.rotary(f"{base}.rotary_emb", rope_dim)), hidden_size=hidden))
    return units


def lm_head_unit(name: str, vocab: int, hidden: int, tied_to: str | None, logits_copies: float = 1.0) -> Unit:
    tensor = TensorSpec(f"{name}.weight", (vocab, hidden), "linear", max_bits=spec_layers.FLOAT, in_features=hidden,
                        out_features=vocab, tied_to=tied_to, exact_linear=True)
    return Unit(name, "head", (tensor,), hidden_size=hidden, logits_copies=logits_copies)


def head_traits(cfg: ConfigView, model_type: str) -> tuple[float, bool]:
    """(logits copies at the head's peak, whether transformers runs sdpa) of a llama-like family:
    Gemma-2's soft-cap (``logits / cap``, tanh, ``* cap``, each a new tensor while the last is
    alive) holds two logits-sized tensors."""
    fam = FAMILIES[model_type]
    # a missing key takes the config class's default (Gemma2Config: 30.0); an explicit null turns it off
    capped = bool(fam.softcap_key) and (fam.softcap_key not in cfg.data or cfg.data[fam.softcap_key] is not None)
    return (2.0 if capped else 1.0), fam.sdpa


def text_dims(cfg: ConfigView, model_type: str) -> tuple[int, int, bool]:
    """(vocab, hidden, tie default) of a llama-like family."""
    fam = FAMILIES[model_type]
    return _get(cfg, fam, "vocab_size"), _get(cfg, fam, "hidden_size"), fam.tie_default

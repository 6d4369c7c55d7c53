"""Random but valid config.json dicts of every hand-written family (hypothesis strategies)."""

from __future__ import annotations

from hypothesis import strategies as st

HAND_FAMILIES = ["llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "mixtral", "qwen2_moe", "qwen3_moe",
                 "deepseek_v3", "gpt2", "opt", "falcon"]


@st.composite
def configs(draw):
    family = draw(st.sampled_from(HAND_FAMILIES))
    heads = draw(st.sampled_from([2, 4, 8]))
    kv = draw(st.sampled_from([h for h in (1, 2, 4, 8) if heads % h == 0]))
    head_dim = draw(st.sampled_from([8, 16]))
    hidden = heads * head_dim * draw(st.sampled_from([1, 2]))
    cfg = dict(model_type=family, hidden_size=hidden, num_attention_heads=heads, num_key_value_heads=kv,
               num_hidden_layers=draw(st.integers(1, 4)), intermediate_size=draw(st.integers(1, 8)) * 16,
               vocab_size=draw(st.integers(50, 300)), tie_word_embeddings=draw(st.booleans()))
    if family in ("qwen3", "gemma", "gemma2", "qwen3_moe") or (family != "deepseek_v3" and draw(st.booleans())):
        cfg["head_dim"] = head_dim  # DeepSeek configs never set it: its config class derives it from the rope dims
    if family in ("llama", "qwen3"):
        cfg["attention_bias"] = draw(st.booleans())
    if family == "llama":
        cfg["mlp_bias"] = draw(st.booleans())
    if family in ("mistral", "mixtral", "phi3", "qwen2", "qwen3", "qwen2_moe", "qwen3_moe") and draw(st.booleans()):
        cfg["sliding_window"] = draw(st.sampled_from([None, 16, 64]))
        if family.startswith("qwen"):
            cfg.update(use_sliding_window=draw(st.booleans()), max_window_layers=draw(st.integers(0, 4)))
    if family == "gemma2":
        cfg["sliding_window"] = draw(st.sampled_from([16, 64]))
    if family in ("mixtral",):
        cfg.update(num_local_experts=draw(st.integers(2, 6)), num_experts_per_tok=2)
    if family in ("qwen2_moe", "qwen3_moe"):
        cfg.update(num_experts=draw(st.integers(2, 6)), num_experts_per_tok=2, moe_intermediate_size=32,
                   decoder_sparse_step=draw(st.integers(1, 2)), mlp_only_layers=draw(st.sampled_from([[], [0]])))
        if family == "qwen2_moe":
            cfg["shared_expert_intermediate_size"] = 48
    if family == "deepseek_v3":
        cfg.update(n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1, moe_intermediate_size=32,
                   first_k_dense_replace=draw(st.integers(0, 2)), n_shared_experts=draw(st.integers(0, 2)),
                   kv_lora_rank=32, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16,
                   q_lora_rank=draw(st.sampled_from([None, 24])), num_key_value_heads=heads)
    if family == "gpt2":
        cfg = dict(model_type="gpt2", n_embd=hidden, n_head=heads, n_layer=cfg["num_hidden_layers"], vocab_size=cfg["vocab_size"],
                   n_positions=512, n_inner=draw(st.sampled_from([None, 48])), tie_word_embeddings=cfg["tie_word_embeddings"])
    if family == "opt":
        cfg = dict(model_type="opt", hidden_size=hidden, num_attention_heads=heads, num_hidden_layers=cfg["num_hidden_layers"],
                   ffn_dim=64, vocab_size=cfg["vocab_size"], max_position_embeddings=512,
                   word_embed_proj_dim=draw(st.sampled_from([hidden, hidden // 2])), enable_bias=draw(st.booleans()),
                   tie_word_embeddings=cfg["tie_word_embeddings"])
    if family == "falcon":
        new_arch = draw(st.booleans())
        cfg = dict(model_type="falcon", hidden_size=hidden, num_attention_heads=heads, num_hidden_layers=cfg["num_hidden_layers"],
                   vocab_size=cfg["vocab_size"], new_decoder_architecture=new_arch, multi_query=draw(st.booleans()),
                   parallel_attn=draw(st.booleans()) or new_arch, bias=draw(st.booleans()), alibi=draw(st.booleans()),
                   tie_word_embeddings=cfg["tie_word_embeddings"])
        # the old architecture without multi-query attention has a KV head per head (transformers
        # cannot run it with fewer: its fused projection always yields every head)
        cfg["num_kv_heads"] = kv if new_arch or cfg["multi_query"] else heads
    cfg.update(pad_token_id=0, bos_token_id=0, eos_token_id=0)
    return cfg

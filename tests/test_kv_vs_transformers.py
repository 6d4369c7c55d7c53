"""KV cache bytes equal what transformers' DynamicCache holds after prefill and after generate."""

from __future__ import annotations

import pytest
from hf_reference import transformers_cache_bytes

from planner.costs.profile import profile
from planner.model.hf_config import spec_from_config
from planner.workload import Workload

TINY = {
    "llama-gqa": dict(model_type="llama", hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                      num_attention_heads=8, num_key_value_heads=2, vocab_size=500),
    "mistral-sliding": dict(model_type="mistral", hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                            num_attention_heads=8, num_key_value_heads=2, vocab_size=500, sliding_window=24),
    "gemma2-alternating": dict(model_type="gemma2", hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                               num_attention_heads=4, num_key_value_heads=2, head_dim=32, vocab_size=500, sliding_window=24),
    "deepseek-mla": dict(model_type="deepseek_v3", hidden_size=128, intermediate_size=256, moe_intermediate_size=64,
                         num_hidden_layers=2, first_k_dense_replace=1, n_routed_experts=4, num_experts_per_tok=2,
                         n_group=1, topk_group=1, num_attention_heads=4, num_key_value_heads=4, q_lora_rank=64,
                         kv_lora_rank=32, qk_rope_head_dim=16, qk_nope_head_dim=32, v_head_dim=24, vocab_size=500),
    "gpt2-mha": dict(model_type="gpt2", n_embd=128, n_layer=2, n_head=4, vocab_size=500, n_positions=256,
                     bos_token_id=0, eos_token_id=0),
}


@pytest.mark.hf
@pytest.mark.parametrize("name", sorted(TINY))
@pytest.mark.parametrize("new_tokens", [0, 12])
def test_kv_bytes_match_dynamic_cache(hf, name, new_tokens):
    cfg = dict(TINY[name], pad_token_id=0)
    measured = transformers_cache_bytes(cfg, 2, 20, new_tokens, 500)
    w = Workload(dtype="bf16", batch=2, prompt_tokens=20, new_tokens=new_tokens)
    assert profile(spec_from_config(cfg), w).kv_bytes == measured


def test_mla_caches_the_latent():
    """vLLM and transformers 5 store kv_lora_rank + qk_rope_head_dim = 576 values per token and layer."""
    from conftest import catalog_config

    spec = spec_from_config(catalog_config("DeepSeek-R1"))
    w = Workload(dtype="bf16", kv_dtype="bf16", engine="vllm", prompt_tokens=1024)
    assert profile(spec, w).kv_bytes == 61 * 1024 * 576 * 2
    assert profile(spec, w.model_copy(update={"engine": "hf"})).kv_bytes == 61 * 1024 * 576 * 2

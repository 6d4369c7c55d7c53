"""KV cache and recurrent state of the architectures the meta route reads: what the planner
predicts equals the storage transformers' own cache holds after prefill and after generate, on
tiny random models run for real on CPU. Each case is an attention kind: local/global patterns,
alternating sliding layers, KV heads expanded before caching, MLA, sparse-attention indexers,
and hybrid recurrent layers (Mamba, gated delta nets)."""

from __future__ import annotations

import pytest
from hf_reference import transformers_cache_bytes

from planner.costs.profile import profile
from planner.model.hf_config import SUPPORTED, spec_from_config
from planner.workload import Workload

pytestmark = pytest.mark.hf
SMALL = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, vocab_size=300)
CASES = {
    "gemma3-local-global": dict(SMALL, model_type="gemma3_text", num_hidden_layers=6, head_dim=16, sliding_window=24,
                                layer_types=["sliding_attention"] * 5 + ["full_attention"]),
    "cohere2-3to1": dict(SMALL, model_type="cohere2", num_hidden_layers=4, sliding_window=24,
                         layer_types=["sliding_attention"] * 3 + ["full_attention"]),
    "gpt-oss-alternating-moe": dict(SMALL, model_type="gpt_oss", num_hidden_layers=4, head_dim=16, sliding_window=24,
                                    num_local_experts=4, num_experts_per_tok=2, intermediate_size=64),
    "falcon-new-arch": dict(model_type="falcon", hidden_size=64, num_hidden_layers=2, num_attention_heads=8, num_kv_heads=2,
                            new_decoder_architecture=True, vocab_size=300),
    "olmo2": dict(SMALL, model_type="olmo2", num_hidden_layers=2),
    "starcoder2-sliding": dict(SMALL, model_type="starcoder2", num_hidden_layers=2, sliding_window=24),
    "granite": dict(SMALL, model_type="granite", num_hidden_layers=2),
    "deepseek_v2-mla": dict(SMALL, model_type="deepseek_v2", num_hidden_layers=2, kv_lora_rank=32, q_lora_rank=None,
                            qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=16, n_routed_experts=4, num_experts_per_tok=2,
                            moe_intermediate_size=32, first_k_dense_replace=1, n_group=1, topk_group=1, num_key_value_heads=4),
    "jamba-mamba-hybrid": dict(SMALL, model_type="jamba", num_hidden_layers=2, attn_layer_period=2, attn_layer_offset=1,
                               expert_layer_period=2, num_experts=2, use_mamba_kernels=False, mamba_d_state=8, mamba_expand=2),
    "qwen3-next-linear-attention": dict(SMALL, model_type="qwen3_next", num_hidden_layers=4, head_dim=16, num_experts=4,
                                        num_experts_per_tok=2, moe_intermediate_size=32, linear_num_value_heads=4,
                                        linear_num_key_heads=2, linear_key_head_dim=16, linear_value_head_dim=16),
    "zamba2-hybrid": dict(SMALL, model_type="zamba2", num_hidden_layers=3, mamba_d_state=8, mamba_headdim=16, n_mamba_heads=8,
                          layers_block_type=["mamba", "hybrid", "mamba"], use_mem_eff_path=False),
    "falcon-h1-parallel-hybrid": dict(SMALL, model_type="falcon_h1", num_hidden_layers=2, mamba_d_state=8, mamba_d_head=16,
                                      mamba_n_heads=8, mamba_n_groups=1, mamba_d_ssm=128, mamba_expand=2),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("new_tokens", [0, 12])
def test_cache_bytes_match_transformers(hf, name, new_tokens):
    cfg = dict(CASES[name], pad_token_id=0, bos_token_id=0, eos_token_id=0)
    assert cfg["model_type"] not in SUPPORTED or cfg["model_type"] == "falcon"
    measured = transformers_cache_bytes(cfg, 2, 20, new_tokens, 300)
    w = Workload(dtype="bf16", batch=2, prompt_tokens=20, new_tokens=new_tokens)
    assert profile(spec_from_config(cfg), w).kv_bytes == measured


@pytest.mark.parametrize(("installed", "expanded"), [("5.24.0", True), ("5.25.0", False), ("5.30.0.dev0", False), (None, False)])
def test_falcon_caches_what_the_installed_release_caches(monkeypatch, installed, expanded):
    """Falcon's new decoder architecture: transformers up to 5.24 broadcast K/V to all 8 heads
    before caching them (its modeling_falcon.py), 5.25 caches the 2 KV heads; with no transformers
    installed the newest rule holds. 2 layers x 2 x 20 tokens x heads x 8 dims x 2 bytes."""
    from planner.model import library_versions

    monkeypatch.setattr(library_versions, "transformers_version_text", lambda: installed)
    cfg = dict(CASES["falcon-new-arch"], pad_token_id=0, bos_token_id=0, eos_token_id=0)
    kv = profile(spec_from_config(cfg), Workload(dtype="bf16", batch=2, prompt_tokens=20)).kv_bytes
    assert kv == 2 * 2 * 2 * 20 * (8 if expanded else 2) * 8 * 2

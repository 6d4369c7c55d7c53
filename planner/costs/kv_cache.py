"""KV cache bytes per attention layer.

Per token and layer: K and V of num_key_value_heads x head_dim each, in the KV dtype.
- transformers (engine "hf"): DynamicCache grows by concatenation. A sliding-window layer keeps
  its last window - 1 tokens after each step but holds the whole prefill right after it, so its
  peak is max(prompt, min(prompt + new, window)). The last generated token is never fed back,
  so after generating N tokens the cache holds prompt + N - 1.
- vLLM (engine "vllm"): paged blocks of 16 tokens per sequence, room for prompt + new tokens;
  sliding-window layers hold at most the window.
- MLA (DeepSeek-V2/V3): both cache the compressed latent, kv_lora_rank + qk_rope_head_dim values
  per token and layer (576 for DeepSeek-V3), not per-head K and V. (transformers 5 does this too:
  measured against its DynamicCache in tests/test_kv_vs_transformers.py.)
- Recurrent layers (Mamba, gated delta nets, lightning attention) keep a fixed-size state per
  sequence instead of a growing cache; it is counted with the KV cache.
"""

from __future__ import annotations

from planner.model.types import AttentionSpec, Unit
from planner.workload import Workload

VLLM_BLOCK = 16


def kv_values_per_token(attn: AttentionSpec, engine: str) -> int:
    """Cached elements per token for one layer (K and V together)."""
    if engine == "hf" and attn.hf_values_per_token is not None:
        return attn.hf_values_per_token
    if attn.kv_lora_rank is not None:
        return attn.kv_lora_rank + (attn.qk_rope_head_dim or 0)
    return attn.num_kv_heads * (attn.head_dim + attn.v_head_dim)


def kv_tokens(attn: AttentionSpec, w: Workload) -> int:
    """Tokens one sequence holds in this layer's cache at its peak."""
    window = attn.sliding_window
    if w.engine == "vllm":
        total = w.total_tokens
        tokens = min(total, window) if window else total
        return -(-tokens // VLLM_BLOCK) * VLLM_BLOCK
    total = w.prompt_tokens + max(w.new_tokens - 1, 0)
    if window:
        return max(w.prompt_tokens, min(total, window))
    return total


def kv_layer_bytes(attn: AttentionSpec | None, w: Workload, kv_bits: int) -> int:
    if attn is None or not attn.causal:
        return 0
    return w.batch * kv_tokens(attn, w) * kv_values_per_token(attn, w.engine) * kv_bits // 8


def state_bytes(unit: Unit, w: Workload, model_bits: int) -> int:
    """Recurrent state of one layer for the batch: fixed per sequence, whatever the context, in the
    model dtype (a KV dtype such as fp8 does not apply to it) unless it has a width of its own."""
    return w.batch * (unit.state_elements * model_bits // 8 + unit.state_fixed_bytes)

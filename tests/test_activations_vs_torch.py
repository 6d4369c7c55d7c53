"""Activation peaks within 15% of torch's own accounting (MemTracker; fake tensors: real shapes and dtypes).

Measured per unit: MemTracker's peak while the unit runs minus the KV cache alive at that moment
(the planner counts KV as its own category). Batch 1 and 4, 512 and 2048 tokens, sdpa and eager.
"""

from __future__ import annotations

import pytest

from planner.costs.profile import profile
from planner.model.hf_config import spec_from_config
from planner.model.meta_activations import parameter_views_detached
from planner.workload import Workload

MODELS = {
    "llama": dict(model_type="llama", hidden_size=512, intermediate_size=1408, num_hidden_layers=2,
                  num_attention_heads=8, num_key_value_heads=2, vocab_size=8000),
    "qwen2": dict(model_type="qwen2", hidden_size=448, intermediate_size=2432, num_hidden_layers=2,
                  num_attention_heads=7, num_key_value_heads=1, vocab_size=8000),
    "qwen3_moe": dict(model_type="qwen3_moe", hidden_size=512, intermediate_size=1408, moe_intermediate_size=192,
                      num_experts=16, num_experts_per_tok=4, num_hidden_layers=2, num_attention_heads=8,
                      num_key_value_heads=2, head_dim=64, vocab_size=8000),
    "mixtral": dict(model_type="mixtral", hidden_size=512, intermediate_size=512, num_local_experts=8,
                    num_experts_per_tok=2, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2, vocab_size=8000),
    "gpt2": dict(model_type="gpt2", n_embd=512, n_layer=2, n_head=8, vocab_size=8000, n_positions=2048,
                 bos_token_id=0, eos_token_id=0),
    "opt": dict(model_type="opt", hidden_size=512, ffn_dim=2048, num_hidden_layers=2, num_attention_heads=8,
                vocab_size=8000, max_position_embeddings=2048, word_embed_proj_dim=512, pad_token_id=0,
                bos_token_id=0, eos_token_id=0),
    # no sdpa kernel (transformers runs it eager whatever is asked) and a soft-capped head
    "gemma2": dict(model_type="gemma2", hidden_size=512, intermediate_size=1408, num_hidden_layers=2, num_attention_heads=8,
                   num_key_value_heads=2, head_dim=64, vocab_size=8000, sliding_window=4096, pad_token_id=0,
                   bos_token_id=0, eos_token_id=0),
}
SDPA_LESS = {"gemma2"}
SHAPES = [(1, 512), (4, 512), (1, 2048), (4, 2048)]


def measure(hf, cfg: dict, batch: int, seq: int, attn: str, dtype: str = "bf16", fake: bool | None = None) -> dict[str, int]:
    """By default a bf16 forward runs under FakeTensorMode: every tensor torch allocates, without
    the bf16 arithmetic (about 100x slower than fp32 on a CPU without bf16 units); fp32 runs for real."""
    import contextlib

    transformers, _, torch = hf
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.distributed._tools.mem_tracker import MemTracker, _ModState

    config = transformers.AutoConfig.for_model(**cfg)
    config._attn_implementation = attn
    with FakeTensorMode() if (dtype == "bf16" if fake is None else fake) else contextlib.nullcontext():
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=getattr(torch, {"bf16": "bfloat16", "fp32": "float32"}[dtype])).eval()
        ids = torch.randint(1, cfg["vocab_size"], (batch, seq))
        tracker = MemTracker()
        tracker.track_external(model)
        head = model.get_output_embeddings()
        # the head's phase runs on after the head module returns (a logit scale, a soft-cap, an fp32
        # copy): its peak is the tracker's global peak from the head's start to the forward's end
        hook = head.register_forward_pre_hook(lambda module, args: (tracker._peak_mem.clear(), tracker._peak_mem_snap.clear(), None)[-1])
        with parameter_views_detached(), torch.no_grad(), tracker:
            out = model(ids, use_cache=True)
            del out
        hook.remove()
    peaks = {}
    for name, module in model.named_modules():
        stats = tracker.memory_tracking.get(module)
        if stats is not None and stats.snapshots.get(_ModState.PEAK_FW):
            peaks[name] = sum(v.get("Activation", 0) for v in stats.snapshots[_ModState.PEAK_FW][0].values())
        if module is head:
            phase = sum(v.get("Activation", 0) for v in tracker.get_tracker_snapshot("peak").values())
            peaks[name] = max(peaks.get(name, 0), phase)
    return peaks


@pytest.mark.hf
@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(MODELS))
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_activation_peaks_within_10_percent(hf, family, attn):
    """Every decoder layer and the head's phase (the head and what the forward does to its logits)."""
    if attn == "sdpa" and family in SDPA_LESS:
        pytest.skip("transformers refuses sdpa for this family; the planner sizes it eager (test_eager_where_sdpa_is_missing)")
    cfg = MODELS[family]
    spec = spec_from_config(cfg)
    for batch, seq in SHAPES:
        peaks = measure(hf, cfg, batch, seq, attn)
        prof = profile(spec, Workload(dtype="bf16", batch=batch, prompt_tokens=seq, attn_implementation=attn, logits="all"))
        kv_alive = 0
        for unit in prof.units:
            kv_alive += unit.kv_bytes
            if unit.kind not in ("decoder_layer", "head"):
                continue
            measured = peaks[unit.name] - kv_alive
            assert abs(unit.activation_peak_bytes / measured - 1) <= 0.10, (family, attn, batch, seq, unit.name,
                                                                           unit.activation_peak_bytes, measured)


def test_eager_where_sdpa_is_missing():
    """Gemma-2 has no sdpa kernel in transformers (_supports_sdpa = False): asked for sdpa, the
    planner sizes what runs, eager, and says so."""
    spec = spec_from_config(MODELS["gemma2"])
    assert not spec.supports_sdpa
    asked = profile(spec, Workload(dtype="bf16", prompt_tokens=2048))
    eager = profile(spec, Workload(dtype="bf16", prompt_tokens=2048, attn_implementation="eager"))
    assert asked.units == eager.units and any("eager" in n for n in asked.load.notes)

"""The combination tier's families and oracles: tiny models of each family saved by transformers,
and what transformers really holds for them, read from the library itself (real loads on the CPU,
and its quantizers' own module replacement on a meta model for maps that name GPUs).

Families cover what the quantizers treat differently: plain Linears (llama), fused MoE experts with
a router class (mixtral) and an nn.Linear gate beside them (qwen2_moe), GPT-2's Conv1D, Falcon's
nn.Linear subclass, OPT's projections outside the layers, a VLM's vision tower and projector
(llava), and an architecture read by the meta route (olmo2).
"""

from __future__ import annotations

import json
from pathlib import Path

H = 128  # widths are multiples of 128 so that fp8's 128 x 128 blocks tile every Linear
FAMILIES: dict[str, dict] = {
    "llama": dict(model_type="llama", hidden_size=H, intermediate_size=2 * H, num_hidden_layers=3, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=384, tie_word_embeddings=False),
    "mixtral": dict(model_type="mixtral", hidden_size=H, intermediate_size=H, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, vocab_size=384, num_local_experts=4, num_experts_per_tok=2),
    "qwen2_moe": dict(model_type="qwen2_moe", hidden_size=H, intermediate_size=2 * H, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, vocab_size=384, num_experts=4, num_experts_per_tok=2,
                      moe_intermediate_size=H, shared_expert_intermediate_size=H),
    "gpt2": dict(model_type="gpt2", n_embd=H, n_head=4, n_layer=2, vocab_size=384, n_positions=256),
    "falcon": dict(model_type="falcon", hidden_size=H, num_attention_heads=4, num_hidden_layers=2, vocab_size=384,
                   new_decoder_architecture=True, num_kv_heads=2),
    "opt": dict(model_type="opt", hidden_size=H, num_attention_heads=4, num_hidden_layers=2, ffn_dim=2 * H, vocab_size=384,
                max_position_embeddings=256, word_embed_proj_dim=H // 2),
    "llava": dict(model_type="llava", image_token_index=383,
                  text_config=dict(model_type="llama", hidden_size=H, intermediate_size=2 * H, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, vocab_size=384),
                  vision_config=dict(model_type="clip_vision_model", hidden_size=H, intermediate_size=2 * H,
                                     num_hidden_layers=2, num_attention_heads=4, image_size=56, patch_size=14)),
    "olmo2": dict(model_type="olmo2", hidden_size=H, intermediate_size=2 * H, num_hidden_layers=2, num_attention_heads=4,
                  vocab_size=384),
}
VLMS = {"llava"}


def auto_class(transformers, family: str):
    return transformers.AutoModelForImageTextToText if family in VLMS else transformers.AutoModelForCausalLM


def save_tiny(hf, family: str, folder: Path, dtype: str = "bfloat16"):
    """A random model of the family, saved as transformers saves it, with its config naming ``dtype``."""
    transformers, _, torch = hf
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(**FAMILIES[family])
    model = auto_class(transformers, family).from_config(config, dtype=getattr(torch, dtype)).eval()
    model.save_pretrained(folder)
    cfg = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**cfg, "dtype": dtype}))
    return model


def tensor_bytes(t) -> int:
    """Bytes a tensor holds, with a bitsandbytes parameter's quantization state (4-bit absmax, code
    tables and the nested state of double quantization; 8-bit's per-row SCB)."""
    total = t.numel() * t.element_size()
    state = getattr(t, "quant_state", None)
    if state is not None:
        total += sum(x.numel() * x.element_size() for x in (state.absmax, state.code) if x is not None)
        if getattr(state, "nested", False):
            nested = state.state2
            total += 4 + sum(x.numel() * x.element_size() for x in (nested.absmax, nested.code))  # + the fp32 offset
    scb = getattr(t, "SCB", None)
    if scb is not None:
        total += scb.numel() * scb.element_size()
    return total


def held_by_unit(model, units: list[str]) -> dict[str, int]:
    """Bytes each planner unit's modules hold in a loaded model, parameters and buffers each counted
    once (tied weights once, at the first name), by the longest unit name that prefixes them."""
    seen, out = set(), dict.fromkeys(units, 0)
    order = sorted(units, key=len, reverse=True)
    for name, t in [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]:
        key = (t.data_ptr(), t.device.type) if t.device.type != "meta" else id(t)
        if key in seen:
            continue
        seen.add(key)
        unit = next((u for u in order if name == u or name.startswith(u + ".")), None)
        assert unit is not None, f"{name} belongs to no unit of the plan"
        out[unit] += tensor_bytes(t)
    return out


def device_bytes(model, device: str) -> int:
    """Bytes of the tensors (parameters and buffers, each storage once) a loaded model holds on ``device``."""
    seen, total = set(), 0
    for t in [*model.parameters(), *model.buffers()]:
        if t.device.type == device and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += tensor_bytes(t)
    return total


def disk_bytes(model) -> int:
    """Bytes of the disk-offloaded weights as accelerate's hooks read them back: entries of its
    OffloadedWeightsLoader index, each in the checkpoint's safetensors file (transformers 5 reads
    them in place) or in a .dat file it wrote, at the dtype the index records; a stored tensor
    named twice (tied) once."""
    import torch
    from safetensors import safe_open

    loader = next((h.weights_map.dataset for m in model.modules()
                   for h in [getattr(m, "_hf_hook", None)] if getattr(h, "weights_map", None) is not None), None)
    if loader is None:
        return 0
    total, seen = 0, set()
    for name, info in loader.index.items():
        stored = (info.get("safetensors_file"), info.get("weight_name", name))
        if stored in seen:  # tied weights: one stored tensor under two names
            continue
        seen.add(stored)
        if "safetensors_file" in info:
            with safe_open(info["safetensors_file"], framework="pt") as f:
                shape = f.get_slice(info["weight_name"]).get_shape()
        else:
            shape = info["shape"]
        numel = 1
        for d in shape:
            numel *= d
        total += numel * getattr(torch, info["dtype"]).itemsize
    return total

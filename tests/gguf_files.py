"""Small GGUF models written with the ``gguf`` package (llama.cpp's own writer), the independent
side of the GGUF tests: dense, tied, MoE, sliding-window and split sets, loadable by llama.cpp.

Tensor data is zeros: llama.cpp does not validate values when it loads (``check_tensors`` is off),
and memory depends only on the header.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from gguf import GGUFWriter
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType


def _tensor(w: GGUFWriter, name: str, shape: tuple[int, ...], qtype: str) -> None:
    """A zero tensor of ggml shape ``shape`` (ne0 first) stored as ``qtype``."""
    t = GGMLQuantizationType[qtype]
    block, size = GGML_QUANT_SIZES[t]
    rows = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    data = np.zeros((rows, shape[0] // block * size), dtype=np.uint8)
    numpy_shape = tuple(reversed(shape))
    byte_shape = numpy_shape[:-1] + (shape[0] // block * size,)
    w.add_tensor(name, data.reshape(byte_shape), raw_shape=byte_shape, raw_dtype=t)


def _tokenizer(w: GGUFWriter, vocab: int) -> None:
    """A GPT-2 style vocabulary of ``vocab`` tokens with one merge: the least llama.cpp loads."""
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list([f"t{i}" for i in range(vocab)])
    w.add_token_types([1] * vocab)
    w.add_token_merges(["t 1"])


def write_model(path: Path, *, arch: str = "llama", n_layer: int = 4, n_embd: int = 256, n_head: int = 4,
                n_head_kv: int = 2, n_ff: int = 512, vocab: int = 512, weight_type: str = "Q4_K",
                output_type: str = "Q6_K", tied: bool = False, experts: int = 0, experts_used: int = 0,
                sliding_window: int | None = None, context: int = 4096, split_max_tensors: int = 0,
                file_type: int | None = 15, name: str = "tiny", metadata: dict | None = None) -> list[Path]:
    """Write a model; returns its files (several for a split set). ``metadata``: keys to add or
    replace, ``{key: (value, GGUFValueType[, element type])}`` (for files llama.cpp would refuse)."""
    import logging

    logging.getLogger("gguf.gguf_writer").setLevel(logging.ERROR)  # replacing a key warns
    w = GGUFWriter(path, arch, split_max_tensors=split_max_tensors)
    w.add_name(name)
    w.add_block_count(n_layer)
    w.add_context_length(context)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(n_embd // n_head)
    if file_type is not None:
        w.add_file_type(file_type)
    if experts:
        w.add_expert_count(experts)
        w.add_expert_used_count(experts_used)
        w.add_expert_feed_forward_length(n_ff)
    if sliding_window:
        w.add_sliding_window(sliding_window)
    _tokenizer(w, vocab)
    w.add_bos_token_id(0)
    w.add_eos_token_id(1)
    for key, spec in (metadata or {}).items():
        w.add_key_value(key, *spec)
    head_dim = n_embd // n_head
    _tensor(w, "token_embd.weight", (n_embd, vocab), weight_type)
    for i in range(n_layer):
        p = f"blk.{i}."
        _tensor(w, p + "attn_norm.weight", (n_embd,), "F32")
        _tensor(w, p + "attn_q.weight", (n_embd, n_head * head_dim), weight_type)
        _tensor(w, p + "attn_k.weight", (n_embd, n_head_kv * head_dim), weight_type)
        _tensor(w, p + "attn_v.weight", (n_embd, n_head_kv * head_dim), weight_type)
        _tensor(w, p + "attn_output.weight", (n_head * head_dim, n_embd), weight_type)
        _tensor(w, p + "ffn_norm.weight", (n_embd,), "F32")
        if arch == "gemma3":  # gemma3's extra norms (src/models/gemma3.cpp)
            for norm, width in (("attn_q_norm", head_dim), ("attn_k_norm", head_dim), ("post_attention_norm", n_embd),
                                ("post_ffw_norm", n_embd)):
                _tensor(w, p + norm + ".weight", (width,), "F32")
        if experts:
            _tensor(w, p + "ffn_gate_inp.weight", (n_embd, experts), "F32")
            _tensor(w, p + "ffn_gate_exps.weight", (n_embd, n_ff, experts), weight_type)
            _tensor(w, p + "ffn_up_exps.weight", (n_embd, n_ff, experts), weight_type)
            _tensor(w, p + "ffn_down_exps.weight", (n_ff, n_embd, experts), weight_type)
        else:
            _tensor(w, p + "ffn_gate.weight", (n_embd, n_ff), weight_type)
            _tensor(w, p + "ffn_up.weight", (n_embd, n_ff), weight_type)
            _tensor(w, p + "ffn_down.weight", (n_ff, n_embd), weight_type)
    _tensor(w, "output_norm.weight", (n_embd,), "F32")
    if not tied and arch != "gemma3":
        _tensor(w, "output.weight", (n_embd, vocab), output_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if split_max_tensors:
        return sorted(path.parent.glob(f"{path.stem}-*-of-*.gguf"))
    return [path]


def write_mamba(path: Path, *, n_layer: int = 4, n_embd: int = 256, d_inner: int = 512, d_state: int = 16, d_conv: int = 4,
                dt_rank: int = 16, vocab: int = 512, weight_type: str = "Q8_0") -> list[Path]:
    """A Mamba (v1) model: recurrent layers with a fixed conv and SSM state per sequence, no KV."""
    w = GGUFWriter(path, "mamba")
    w.add_name("tiny-mamba")
    w.add_block_count(n_layer)
    w.add_context_length(1 << 20)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(0)
    w.add_head_count(0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_ssm_conv_kernel(d_conv)
    w.add_ssm_inner_size(d_inner)
    w.add_ssm_state_size(d_state)
    w.add_ssm_time_step_rank(dt_rank)
    _tokenizer(w, vocab)
    _tensor(w, "token_embd.weight", (n_embd, vocab), weight_type)
    for i in range(n_layer):
        p = f"blk.{i}."
        _tensor(w, p + "attn_norm.weight", (n_embd,), "F32")
        _tensor(w, p + "ssm_in.weight", (n_embd, 2 * d_inner), weight_type)
        _tensor(w, p + "ssm_conv1d.weight", (d_conv, d_inner), "F32")
        _tensor(w, p + "ssm_conv1d.bias", (d_inner,), "F32")
        _tensor(w, p + "ssm_x.weight", (d_inner, dt_rank + 2 * d_state), weight_type)
        _tensor(w, p + "ssm_dt.weight", (dt_rank, d_inner), "F32")
        _tensor(w, p + "ssm_dt.bias", (d_inner,), "F32")
        _tensor(w, p + "ssm_a", (d_state, d_inner), "F32")
        _tensor(w, p + "ssm_d", (d_inner,), "F32")
        _tensor(w, p + "ssm_out.weight", (d_inner, n_embd), weight_type)
    _tensor(w, "output_norm.weight", (n_embd,), "F32")
    _tensor(w, "output.weight", (n_embd, vocab), weight_type)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return [path]

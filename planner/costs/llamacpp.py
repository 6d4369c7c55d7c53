"""What llama.cpp allocates besides the weights, from a GGUF header and the context settings.

Rules from llama.cpp's source (the release vendored in llama-cpp-python 0.3.36):
- context: ``n_ctx`` (0: the training length) is padded to 256; a cache that is not unified gives
  each of the ``n_seq`` streams ``pad(n_ctx / n_seq, 256)`` cells (llama-context.cpp).
- KV per layer: K ``[n_embd_k_gqa, cells, streams]`` of ``-ctk``, V likewise of ``-ctv`` (V padded
  to the widest layer when flash attention is off; none for MLA); sliding-window layers hold
  ``pad(min(cells, n_swa * (unified ? n_seq : 1) + n_ubatch), 256)`` cells unless ``--swa-full``;
  recurrent layers keep f32 conv and SSM states per sequence (llama-kv-cache*.cpp,
  llama-memory-recurrent.cpp, llama-hparams.cpp).
- tensors in a CUDA buffer are padded to 128 bytes, quantized rows not a multiple of 512 values by
  one row of the missing values (ggml-cuda ``get_alloc_size``).
- compute buffers: the allocator's peak for a ``min(n_ctx, n_ubatch)``-token batch attending to the
  whole cache; estimated here as the largest of attention, feed-forward and logits, fitted against
  llama.cpp's own reports on the CPU (tests/test_gguf_oracle.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from planner.model.gguf.ggml_types import GGML_TYPES, row_bytes
from planner.model.gguf.model import EXPERT_TENSOR, GgufModel

CTX_PAD = 256
CUDA_ALIGN = 128
MATRIX_ROW_PADDING = 512
SWA_PERIODS = {"gemma2": (2, False), "gemma3": (6, False), "gemma3n": (5, False), "gemma-embedding": (6, False),
               "cohere2": (4, False), "cohere2moe": (4, True), "llama4": (4, False), "gpt-oss": (2, False),
               "exaone4": (4, False), "exaone-moe": (4, False), "olmo2": (4, False), "plamo3": (8, False),
               "muse-glimmer": (4, False), "afmoe": (4, False), "laguna": (4, True), "mellum": (4, False),
               "smallthinker": (4, True), "modern-bert": (3, True)}
"""Architectures whose llama.cpp code reads a sliding-window period (``load_swa_pattern(ml, n,
dense_first)`` in src/models/*.cpp): (default period, the full-attention layer first). The file's
``sliding_window_pattern`` (a period or one flag per layer) overrides it; any other architecture
has no sliding-window layers unless the file lists them per layer (phi3's ``sliding_window`` is
ignored by llama.cpp)."""
RECURRENT_ARCHS = ("mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7")


@dataclass(frozen=True)
class LlamaCppContext:
    """The context settings llama-server takes, as the planner prints them."""

    n_ctx: int = 0
    """-c: total cells (0: the model's training context)."""
    n_seq: int = 1
    """-np: parallel sequences (server slots)."""
    kv_unified: bool = False
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: bool = True
    n_ubatch: int = 512
    n_batch: int = 2048
    swa_full: bool = False


def _pad(x: int, to: int) -> int:
    return -(-x // to) * to


def cells(model: GgufModel, ctx: LlamaCppContext) -> tuple[int, int, int]:
    """(n_ctx, cells per stream, streams) as llama_context sets them."""
    n_ctx = _pad(ctx.n_ctx or n_ctx_train(model), CTX_PAD)
    if ctx.kv_unified:
        return n_ctx, n_ctx, 1
    per = _pad(n_ctx // ctx.n_seq, CTX_PAD)
    return per * ctx.n_seq, per, ctx.n_seq


def n_ctx_train(model: GgufModel) -> int:
    return model.uint("context_length", 4096) or 4096


def swa_layers(model: GgufModel) -> list[bool]:
    """Which layers use the sliding window (llama.cpp ``is_swa``)."""
    if model.uint("attention.sliding_window", 0) == 0:
        return [False] * model.n_layer
    pattern = model.key("attention.sliding_window_pattern")
    if isinstance(pattern, list):
        if len(pattern) != model.n_layer or not all(isinstance(x, bool | int) for x in pattern):
            model.per_layer("attention.sliding_window_pattern", 0)  # raises the one-line error
        return [bool(x) for x in pattern]
    if model.arch not in SWA_PERIODS:
        return [False] * model.n_layer
    n, dense_first = SWA_PERIODS[model.arch]
    if pattern is not None:
        n = model.uint("attention.sliding_window_pattern")
    if dense_first:
        return [n == 0 or il % n != 0 for il in range(model.n_layer)]
    return [n == 0 or il % n < n - 1 for il in range(model.n_layer)]


def _kv_layers(model: GgufModel) -> list[bool]:
    """Layers that get their own KV: not MTP layers, not layers that reuse an earlier layer's cache,
    not recurrent layers (head_count_kv 0)."""
    n = model.n_layer
    last = n - min(n, model.uint("nextn_predict_layers", 0))
    shared = min(n, model.uint("attention.shared_kv_layers", 0))
    from_start = 20 if model.arch == "gemma3n" else n - shared
    heads_kv = model.per_layer("attention.head_count_kv", _heads(model)[0])
    return [il < last and il < from_start and heads_kv[il] > 0 for il in range(n)]


def _heads(model: GgufModel) -> list[int]:
    return model.per_layer("attention.head_count", 1) or [1]


def is_mla(model: GgufModel) -> bool:
    return model.key("attention.key_length_mla") is not None and model.key("attention.value_length_mla") is not None


def kv_widths(model: GgufModel) -> list[tuple[int, int]]:
    """(K values, V values) per token of each layer's cache (0, 0 where the layer keeps none)."""
    heads = _heads(model)
    heads_kv = model.per_layer("attention.head_count_kv", heads[0])
    n_embd = model.uint("embedding_length")
    dk = model.uint("attention.key_length", n_embd // max(1, heads[0]))
    dv = model.uint("attention.value_length", n_embd // max(1, heads[0]))
    dk_swa = model.uint("attention.key_length_swa", dk)
    dv_swa = model.uint("attention.value_length_swa", dv)
    swa, has = swa_layers(model), _kv_layers(model)
    mla = is_mla(model)
    out = []
    for il in range(model.n_layer):
        if not has[il] or model.arch in RECURRENT_ARCHS:
            out.append((0, 0))
            continue
        k, v = (dk_swa, dv_swa) if swa[il] else (dk, dv)
        out.append((k * heads_kv[il], 0 if mla else v * heads_kv[il]))
    return out


def swa_cells(model: GgufModel, ctx: LlamaCppContext, per_stream: int) -> int:
    """Cells per stream of the sliding-window cache (llama_kv_cache_iswa)."""
    if ctx.swa_full:
        return per_stream
    n_swa = model.uint("attention.sliding_window", 0)
    return min(per_stream, _pad(n_swa * (ctx.n_seq if ctx.kv_unified else 1) + ctx.n_ubatch, CTX_PAD))


def kv_bytes(model: GgufModel, ctx: LlamaCppContext) -> list[int]:
    """Bytes of each layer's KV cache (and recurrent state)."""
    _, per_stream, streams = cells(model, ctx)
    widths = kv_widths(model)
    v_max = max((v for _, v in widths), default=0)
    window = swa_cells(model, ctx, per_stream)
    swa = swa_layers(model)
    recurrent = recurrent_bytes(model, ctx)
    out = []
    for il, (k, v) in enumerate(widths):
        n_cells = window if swa[il] else per_stream
        v_width = v_max if (not ctx.flash_attn and v) else v
        size = 0
        if k:
            size += row_bytes(ctx.type_k, k) * n_cells * streams
        if v_width:
            size += row_bytes(ctx.type_v, v_width) * n_cells * streams
        out.append(size + recurrent[il])
    return out


def recurrent_bytes(model: GgufModel, ctx: LlamaCppContext) -> list[int]:
    """f32 conv/shift (R) and SSM/WKV (S) states per layer, one row per sequence."""
    rows = max(1, ctx.n_seq)
    n_embd = model.uint("embedding_length")
    heads_kv = model.per_layer("attention.head_count_kv", _heads(model)[0])
    if model.arch.startswith(("rwkv", "arwkv")):
        r, s = model.uint("token_shift_count", 2) * n_embd, n_embd * model.uint("wkv.head_size", 64)
    elif model.key("ssm.state_size") is not None:
        d_conv, d_inner = max(1, model.uint("ssm.conv_kernel", 4)), model.uint("ssm.inner_size")
        d_state, groups = model.uint("ssm.state_size"), model.uint("ssm.group_count")
        r, s = (d_conv - 1) * (d_inner + 2 * groups * d_state), d_state * d_inner
    elif model.key("shortconv.l_cache") is not None:
        r, s = n_embd * max(0, model.uint("shortconv.l_cache") - 1), 0
    else:
        return [0] * model.n_layer
    pure = model.arch in RECURRENT_ARCHS
    return [4 * (r + s) * rows if (pure or heads_kv[il] == 0) else 0 for il in range(model.n_layer)]


def gpu_tensor_bytes(t) -> int:
    """A tensor's size in a CUDA buffer (padding included)."""
    name, block, size = GGML_TYPES[t.type_id]
    extra = 0
    if block > 1 and t.shape[0] % MATRIX_ROW_PADDING:
        extra = size * (MATRIX_ROW_PADDING - t.shape[0] % MATRIX_ROW_PADDING) // block
    return _pad(t.nbytes + extra, CUDA_ALIGN)


def layer_gpu_bytes(model: GgufModel) -> tuple[list[int], list[int]]:
    """Per layer on a GPU: (all tensors, the routed-expert tensors), CUDA padding included."""
    total, experts = [], []
    for layer in model.layers:
        sizes = [(gpu_tensor_bytes(t), bool(EXPERT_TENSOR.search(t.name))) for t in layer.tensors]
        total.append(sum(s for s, _ in sizes))
        experts.append(sum(s for s, e in sizes if e))
    return total, experts


def output_gpu_bytes(model: GgufModel) -> int:
    tied = gpu_tensor_bytes(model.embedding) if model.output_tied and model.embedding is not None else 0
    return sum(gpu_tensor_bytes(t) for t in model.output_tensors) + tied


def output_buffer_bytes(model: GgufModel, ctx: LlamaCppContext) -> int:
    """The logits buffer: f32 x vocab x one output per sequence (grown later only by batches that
    ask for more outputs)."""
    return 4 * model.vocab_size * max(1, ctx.n_seq)


def _dims(model: GgufModel) -> tuple[int, int, int, int, int, int]:
    heads = max(_heads(model))
    n_embd = model.uint("embedding_length")
    n_ff = max(model.per_layer("feed_forward_length", 0), default=0)
    n_ff_exp = model.uint("expert_feed_forward_length", n_ff)
    used = model.uint("expert_used_count", 0)
    dk = model.uint("attention.key_length", n_embd // max(1, heads))
    return heads, n_embd, n_ff, n_ff_exp, used, dk


class ComputeBuffers(NamedTuple):
    layers: int
    """A device that runs layers."""
    output: int
    """The device that also computes the logits."""
    host: int
    """The CPU's buffer when every layer runs on a GPU (the embedding lookup, inputs, masks)."""
    pipeline_copies: int
    """Added to each GPU when llama.cpp pipelines the batch over several GPUs (every layer on a GPU,
    no expert on the CPU): the scheduler keeps 4 copies of each GPU's inputs instead of one."""


def compute_bytes(model: GgufModel, ctx: LlamaCppContext) -> ComputeBuffers:
    """llama.cpp's compute buffers for the worst-case batch it reserves: ``min(n_ctx, n_ubatch)``
    tokens attending to every cell. Phases: attention (scores of
    shape cells x tokens x heads in f32 without flash attention), feed-forward (gate, up and their
    product live at once), logits (f32 vocab x tokens); the mask is live through the layers. Fitted on
    the CPU against llama.cpp's reports: never below them, at most ~15% above."""
    n_ctx, per_stream, _ = cells(model, ctx)
    tokens = _pad(min(n_ctx, ctx.n_ubatch), max(1, ctx.n_seq))
    heads, n_embd, n_ff, n_ff_exp, used, dk = _dims(model)
    heads_kv = max(model.per_layer("attention.head_count_kv", heads) or [heads])
    attends = any(k for k, _ in kv_widths(model))
    mask_cells = per_stream + (swa_cells(model, ctx, per_stream) if any(swa_layers(model)) else 0)
    mask = mask_cells * tokens * (2 if ctx.flash_attn else 4) if attends else 0
    act = 4 * tokens
    proj = 4 * n_embd + 2 * heads * dk + 2 * heads_kv * dk
    if not attends:
        attention = 0
    elif ctx.flash_attn:
        attention = act * (proj + heads * dk)
    else:
        attention = 4 * heads * per_stream * tokens + act * proj
    if model.key("ssm.inner_size") is not None:  # Mamba layers: the input projection, conv and scan outputs
        d_inner, d_state = model.uint("ssm.inner_size"), model.uint("ssm.state_size")
        attention = max(attention, act * (6 * d_inner + 2 * n_embd + model.uint("ssm.time_step_rank") + 2 * d_state))
    experts = model.uint("expert_count", 0)
    ffn = act * (3 * max(n_ff, used * n_ff_exp) + 4 * n_embd + 2 * experts)
    logits = act * (model.vocab_size + 3 * n_embd) + (mask if ctx.flash_attn else 0)
    layers = max(attention, ffn) + mask
    slack = 32 * tokens  # positions, output ids and the allocator's small tensors
    host = act * n_embd + mask + slack
    return ComputeBuffers(layers + slack, max(layers, logits) + slack, host, 3 * (mask + act * n_embd + 8 * tokens))

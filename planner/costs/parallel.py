"""What one tensor-parallel rank of vLLM holds, and how vLLM splits layers into pipeline stages.

Tensor parallelism (vLLM's parallel linear layers, read from vllm/model_executor/layers/linear.py
and vocab_parallel_embedding.py):
- column-parallel (split along the output): q/k/v and fused qkv projections, gate/up and fused
  gate_up, fc1-style up projections, MoE experts' gate_up, DeepSeek's q_b_proj and kv_b_proj;
  their biases split the same way;
- row-parallel (split along the input): o_proj, down_proj, fc2-style down projections, vision
  ``proj``, MoE experts' down; their biases are *not* split (every rank holds the whole bias);
- query heads must divide by tp; KV heads are split when there are at least tp of them
  (tp must divide them), else each rank holds one KV head, replicated tp / kv times (tp must be
  a multiple of kv), so k/v weights and the KV cache shrink only down to one head;
- embeddings and the LM head are vocab-parallel: the vocabulary is padded to a multiple of 64
  and split in tp equal row blocks;
- everything else (norms, routers, DeepSeek's q_a/kv_a projections, position embeddings, rotary
  buffers, patch embeddings) is replicated on every rank.
MLA caches one latent per token that every rank keeps whole: the KV cache does not shrink with tp.

Pipeline parallelism: ``get_pp_indices`` gives every stage num_layers // pp layers and hands the
remainder, one each, to the stages before the last (the first stage also holds the embedding and
the last the head); ``VLLM_PP_LAYER_PARTITION`` overrides it with explicit counts.
"""

from __future__ import annotations

from fractions import Fraction

from planner.errors import InputError
from planner.model.types import AttentionSpec, TensorSpec, Unit, layer_indices

VOCAB_PADDING = 64
_COLUMN = {"q_proj", "k_proj", "v_proj", "qkv_proj", "qkv", "c_attn", "query_key_value", "gate_proj", "up_proj",
           "gate_up_proj", "c_fc", "fc1", "dense_h_to_4h", "w1", "w3", "q_b_proj", "kv_b_proj", "linear_fc1"}
_ROW = {"o_proj", "down_proj", "c_proj", "dense", "proj", "fc2", "dense_4h_to_h", "w2", "out_proj", "linear_fc2"}
_VOCAB = {"embed_tokens", "wte", "word_embeddings", "lm_head"}


def pad_vocab(vocab: int) -> int:
    return -(-vocab // VOCAB_PADDING) * VOCAB_PADDING


def kv_heads_per_rank(num_kv_heads: int, tp: int) -> int:
    return num_kv_heads // tp if num_kv_heads >= tp else 1


def check_tp(attn: AttentionSpec, tp: int) -> str | None:
    """Why vLLM refuses this tensor-parallel size for a layer, or None."""
    if attn.num_heads % tp:
        return f"{attn.num_heads} attention heads do not divide by tensor parallel size {tp}"
    if attn.kv_lora_rank is None:
        kv = attn.num_kv_heads
        if (kv >= tp and kv % tp) or (kv < tp and tp % kv):
            return f"{kv} KV heads and tensor parallel size {tp} neither divide the other"
    return None


def _role(t: TensorSpec) -> tuple[str, str]:
    parts = t.name.split(".")
    leaf = parts[-1]
    if leaf in ("gate_up_proj", "down_proj") and "experts" in parts:  # fused MoE expert tensors
        return ("column" if leaf == "gate_up_proj" else "row"), "weight"
    module = parts[-2] if len(parts) > 1 else leaf
    if module in _VOCAB and t.kind in ("embedding", "linear"):
        return "vocab", leaf
    if module in _COLUMN:
        return "column", leaf
    if module in _ROW:
        return "row", leaf
    if t.quantizable and t.kind in ("linear", "expert_linear"):
        return "column", leaf  # an unknown projection: assume it is split like the others
    return "replicated", leaf


def shard_fraction(t: TensorSpec, unit: Unit, tp: int, vocab: int) -> Fraction:
    """Share of tensor ``t`` one rank holds (1 when replicated)."""
    if tp == 1:
        return Fraction(1)
    role, leaf = _role(t)
    if role == "vocab":
        return Fraction(pad_vocab(vocab) // tp, vocab)
    if role == "row":
        return Fraction(1) if leaf == "bias" else Fraction(1, tp)
    if role != "column":
        return Fraction(1)
    attn = unit.attention
    module = t.name.split(".")[-2] if "." in t.name else ""
    if attn is not None and attn.kv_lora_rank is None and module in ("k_proj", "v_proj"):
        return Fraction(kv_heads_per_rank(attn.num_kv_heads, tp), attn.num_kv_heads)
    if attn is not None and attn.kv_lora_rank is None and module in ("qkv_proj", "c_attn", "query_key_value", "qkv"):
        h, kv = attn.num_heads, attn.num_kv_heads
        if kv == h:
            return Fraction(1, tp)
        return Fraction(h // tp + 2 * kv_heads_per_rank(kv, tp), h + 2 * kv)
    return Fraction(1, tp)


def kv_bytes_per_token_rank(attn: AttentionSpec, tp: int, kv_bits: int) -> int:
    """KV cache bytes one rank stores per token for one layer, in vLLM's layout: the MLA latent
    whole on every rank, K/V heads split (replicated below one head per rank). The values per
    token are kv_cache.kv_values_per_token's, the one rule for them."""
    from dataclasses import replace

    from planner.costs.kv_cache import kv_values_per_token

    per_rank = attn if attn.kv_lora_rank is not None else replace(attn, num_kv_heads=kv_heads_per_rank(attn.num_kv_heads, tp))
    return kv_values_per_token(per_rank, "vllm") * kv_bits // 8


def pp_partition(num_layers: int, pp: int, override: list[int] | None = None) -> list[int]:
    """Decoder layers per pipeline stage, as vLLM's get_pp_indices assigns them."""
    if pp < 1 or pp > num_layers:
        raise InputError(f"pp: {pp} pipeline stages for {num_layers} layers; use 1 to {num_layers}")
    if override is not None:
        if len(override) != pp or sum(override) != num_layers or min(override) < 1:
            raise InputError(f"layer partition {override}: needs {pp} positive counts summing to {num_layers}")
        return list(override)
    parts = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        parts[-i] += 1
    return parts


def tp_problem(units, tp: int, layer_at: list[int] | None = None) -> str | None:
    """Why a tensor-parallel size cannot split the model's attention (the first layer that
    refuses it), or None: the one check vLLM layouts, cluster pipelines and training share."""
    layers = layer_indices(units) if layer_at is None else layer_at
    return next((why for i in layers if units[i].attention for why in [check_tp(units[i].attention, tp)] if why), None)


def layer_groups(units, layer_at: list[int] | None = None) -> tuple[list[int], list[list[int]], list[int]]:
    """(units before the first decoder layer, each layer with the units after it up to the next
    layer, units after the last layer): what a pipeline stage takes with its first layer, a layer,
    and its last layer. ``stage_starts`` is this rule cut at the partition's boundaries."""
    layer_at = layer_indices(units) if layer_at is None else layer_at
    if not layer_at:
        return list(range(len(units))), [], []
    first, last = layer_at[0], layer_at[-1]
    carried: list[list[int]] = []
    for i in range(first, last + 1):
        if units[i].kind == "decoder_layer":
            carried.append([i])
        else:
            carried[-1].append(i)
    return list(range(first)), carried, list(range(last + 1, len(units)))


def stage_starts(units, partition: list[int], layer_at: list[int] | None = None) -> list[int]:
    """The first unit of every pipeline stage, plus len(units), for a partition of the decoder
    layers (layers per stage): units before the first layer on the first stage, units after
    the last on the last, and a unit between two layers with the layer before it. The one
    stage-assignment rule: vLLM layouts, training stages and the cluster partitioner all follow
    it (stage s holds units starts[s] .. starts[s + 1] - 1). ``layer_at``: the decoder layers'
    unit indices, when the caller keeps them."""
    if layer_at is None:
        layer_at = layer_indices(units)
    starts, acc = [0], 0
    for count in partition[:-1]:
        acc += count
        starts.append(layer_at[acc] if acc < len(layer_at) else len(units))
    return starts + [len(units)]


def stage_of_units(units, partition: list[int]) -> list[int]:
    """The pipeline stage of every unit, by ``stage_starts``."""
    starts = stage_starts(units, partition)
    out: list[int] = []
    for s in range(len(starts) - 1):
        out += [s] * (starts[s + 1] - starts[s])
    return out

"""Peak transient memory of each unit during an inference forward pass (prefill), in bytes.

Measured, not guessed: the constants below come from torch's own accounting (MemTracker) of
transformers 5 forward passes in eval/no_grad mode, and tests/test_activations_vs_torch.py keeps
them within 15% across batch, sequence, dtype and attention kernels. With T = batch x prompt
tokens, d = bytes of the compute dtype, a decoder layer holds:
- resident: its input and the model's ``inputs_embeds`` (2 T h d), rotary cos/sin (2 s r d),
  and for eager attention the additive mask (b s^2 d);
- then the larger of two phases:
  attention: 2 T h d + (8/3 q_dim + 4/3 kv_dim) T d (projections, rotary temporaries, output),
             plus for eager b x heads x s^2 x (d + 8) bytes (scores, an fp32 copy for the
             softmax and its fp32 result; d + 4 in fp32 models); sdpa and flash add nothing;
  feed-forward: 2 T h d + 3 T i d when gated (gate, up and their product), 2 T i d otherwise;
             MoE: T k (3 h + 3 I) d for the routed tokens + T E 4 router logits + 3 T I_shared d.
The KV cache written by the layer is not included: it is a category of its own.
The head holds its input and batch x positions x vocab logits in the compute dtype (transformers
5 no longer upcasts them) times the logits-sized tensors alive at once after it (``Unit.logits_copies``:
a scale or soft-cap applied after the head makes two; measured on the meta route), plus two fp32
copies of the last logits during ``generate``.
"""

from __future__ import annotations

from planner.model.types import Unit
from planner.workload import Workload

_Q = 8 / 3
_KV = 4 / 3
# Implementations that differ from the llama path, measured the same way:
# GPT-2's Python gelu_new keeps 4 intermediate-sized tensors alive and its eager softmax stays in
# the model dtype (2 score copies); Falcon's attention materialises score-sized tensors even
# under sdpa (4 copies; 3 in eager).
_MLP_COPIES = {"gpt2": 4}
_EAGER_SCORE_COPIES = {"gpt2": 2, "falcon": 3}
_SDPA_SCORE_COPIES = {"falcon": 4}
# GPT-2 (read line by line in modeling_gpt2.py, then measured): its inputs_embeds stay referenced
# beside every layer's input, which is their sum with the position embeddings [1, s, h] (also
# referenced throughout); during the MLP the block holds the attention output, the residual and
# ln_2's output (3 hidden-sized tensors, not 2), and under eager the attention weights it returns
# (batch x heads x s^2); its attention phase holds ln_1's output and the fused q, k, v (4).
_LEARNED_POSITIONS = {"gpt2"}
_MLP_HIDDEN = {"gpt2": 3}
_ATTENTION_HIDDEN = {"gpt2": 4}
_EAGER_WEIGHTS_KEPT = {"gpt2"}
DEFAULT_IMAGE_PATCHES = 1024


def _score_bytes(family: str, eager: bool, d: int) -> int:
    """Bytes per attention-score element alive at the attention peak."""
    if eager:
        copies = _EAGER_SCORE_COPIES.get(family)
        return copies * d if copies else d + (8 if d < 4 else 4)
    return _SDPA_SCORE_COPIES.get(family, 0) * d


def _attention_phase(u: Unit, t: int, d: int, batch: int, s: int, eager: bool) -> float:
    a = u.attention
    h = u.hidden_size
    if a.kv_lora_rank is not None:  # MLA: full per-head K and V are materialised from the latent
        q_dim = a.num_heads * a.head_dim
        kv_dim = a.num_heads * (a.head_dim + a.v_head_dim) + a.num_heads * (a.head_dim - (a.qk_rope_head_dim or 0) + a.v_head_dim)
    else:
        q_dim = a.num_heads * a.head_dim
        kv_dim = a.num_kv_heads * (a.head_dim + a.v_head_dim) / 2
    hidden = _ATTENTION_HIDDEN.get(u.family)
    phase = t * d * (hidden * h if hidden else 2 * h + _Q * q_dim + _KV * kv_dim)
    return phase + batch * a.num_heads * s * s * _score_bytes(u.family, eager, d)


def _mlp_phase(u: Unit, t: int, d: int) -> float:
    m = u.mlp
    h = u.hidden_size
    if m.experts:
        routed = t * m.experts_per_token * (3 * h + 3 * m.intermediate) * d
        return 2 * t * h * d + routed + t * m.experts * 4 + 3 * t * m.shared_intermediate * d
    copies = 3 if m.gated else _MLP_COPIES.get(u.family, 2)
    return _MLP_HIDDEN.get(u.family, 2) * t * h * d + copies * t * m.intermediate * d


def _block_peak(u: Unit, w: Workload, d: int, batch: int, s: int, resident_inputs: int) -> int:
    t = batch * s
    h = u.hidden_size
    eager = w.attn_implementation == "eager"
    learned = u.family in _LEARNED_POSITIONS
    resident = (2 if learned else resident_inputs) * t * h * d
    a = u.attention
    kept = 0  # what the attention leaves behind for the MLP phase
    if a is not None:
        rot = a.qk_rope_head_dim or a.head_dim
        resident += s * h * d if learned else 2 * s * rot * d
        if eager and a.causal:
            resident += batch * s * s * d
        if eager and u.family in _EAGER_WEIGHTS_KEPT:
            kept = batch * a.num_heads * s * s * d
    phases = [2 * t * h * 4]  # RMSNorm/LayerNorm upcast to fp32
    if a is not None:
        phases.append(_attention_phase(u, t, d, batch, s, eager))
    if u.mlp is not None:
        phases.append(_mlp_phase(u, t, d) + kept)
    return int(resident + max(phases))


def _measured_peak(u: Unit, w: Workload, d: int, batch: int, s: int, resident: int) -> int:
    """A measured layer (model/meta_activations.py): its fused-attention peak scaled to the tokens
    and dtype; under eager attention, the larger of that and its attention phase as measured with
    the model's own eager kernel (else what eager adds by the closed form)."""
    peak = (u.activation_per_token * batch * s + u.activation_base) * d / 2
    if w.attn_implementation == "eager" and u.attention is not None:
        fit, scale = (u.eager_per_token2, u.eager_per_token, u.eager_kept_per_token2), d / 2  # 16 bits, fp16 as bf16
        if d >= 4 and u.eager32_per_token2:
            fit, scale = (u.eager32_per_token2, u.eager32_per_token, u.eager32_kept_per_token2), 1
        if fit[0]:  # measured (model/meta_eager.py): the larger of the attention phase and the rest beside what it keeps
            return int(max(peak + batch * fit[2] * s * s * scale, batch * (fit[0] * s * s + fit[1] * s) * scale))
        fused = w.model_copy(update={"attn_implementation": "sdpa"})
        peak += _block_peak(u, w, d, batch, s, resident) - _block_peak(u, fused, d, batch, s, resident)
    return int(peak)


def vision_tokens(w: Workload) -> int:
    return w.batch * w.images * (w.image_patches or DEFAULT_IMAGE_PATCHES)


def unit_activation_bytes(u: Unit, w: Workload, compute_bits: int, vocab: int) -> int:
    """Peak transient bytes while ``u`` runs (inputs included, weights and KV cache excluded)."""
    d = compute_bits // 8
    b, s = w.batch, w.prompt_tokens
    t = b * s
    h = u.hidden_size
    if u.tower == "vision":
        tv = vision_tokens(w)
        if tv == 0:
            return 0
        if u.kind == "vision_block":
            return _block_peak(u, w, d, 1, tv, 1)
        return int(2 * tv * h * d)
    if u.kind == "decoder_layer":
        resident = 1 if u.layer_index == 0 else 2
        if u.activation_per_token:
            return _measured_peak(u, w, d, b, s, resident)
        return _block_peak(u, w, d, b, s, resident)
    if u.kind == "embedding":
        return t * h * d + t * 8
    if u.kind == "rotary":
        rot = 2 * sum(x.numel for x in u.tensors[:1])
        return 2 * s * rot * (d + 4)
    if u.kind == "norm":
        return 2 * t * h * d + 2 * t * h * 4
    if u.kind == "head":
        positions = w.logits_positions
        out = b * positions * h * d + int(u.logits_copies * b * positions * vocab * d)
        if w.new_tokens > 0:
            out += 2 * b * vocab * 4
        return out
    return 2 * t * h * d

"""The eager attention kernel of any architecture, measured on the meta device: what it allocates
in its attention phase (score tensors, a float32 softmax or not, sinks, the mask, in whatever dtypes
its code makes them) and what it leaves alive for the rest of the layer (the mask, attention
weights a layer keeps), so no closed form has to guess a kernel it has not read.

Per decoder layer, in one sequence of the model's dtype:
- the attention phase: the attention submodule's MemTracker peak at two long prompts (the score
  tensors set the peak there; at 64-128 tokens the projections still do and a fit reads half the
  slope), fitted as a s^2 + b s;
- what eager keeps: the peak of the layer's other submodules (the MLP phase) under eager less
  under the fused stand-in, at a short prompt, over s^2.
costs/activations.py takes the larger of the fused peak plus what is kept and the attention phase.
Layers of one kind (meta_kinds) share the figures of the first of them, and the forward stops
after the last one measured.
A float32 model is measured apart (a 16-bit model's softmax makes a float32 copy, a float32 one's
does not); where its MoE experts cannot run in float32 on meta, the 16-bit figures are used.
"""

from __future__ import annotations

import contextlib

from planner.model.meta_activations import LENGTHS, STUB, module_peaks

EAGER_LENGTHS = (256, 512)


def attention_modules(model, layer_names: list[str]) -> dict[str, str]:
    """Per decoder layer, the name of its attention submodule (a class named *Attention*), if any."""
    modules = dict(model.named_modules())
    out = {}
    for name in layer_names:
        layer = modules.get(name)
        found = next((f"{name}.{n}" for n, m in (layer.named_modules() if layer is not None else ())
                      if n and "attention" in type(m).__name__.lower()), None)
        if found:
            out[name] = found
    return out


def _other_children(model, attention: dict[str, str]) -> dict[str, list[str]]:
    """Per layer with attention, its direct submodules other than the attention (norms, the MLP)."""
    modules = dict(model.named_modules())
    out = {}
    for layer, attn in attention.items():
        out[layer] = [f"{layer}.{n}" for n, _ in modules[layer].named_children() if f"{layer}.{n}" != attn]
    return out


def eager_fits(model, layer_names: list[str], previous: str, kinds: dict[str, str]) -> dict[str, tuple[float, float, float]]:
    """Per layer with attention, (a, b, kept): its eager attention phase a s^2 + b s and the bytes per
    s^2 the eager kernel leaves alive for the rest of the layer, measured on the first layer of its
    kind (``kinds``: layer -> that layer, meta_kinds). Empty when eager cannot run on meta."""
    attention = attention_modules(model, layer_names)
    if not attention:
        return {}
    rep = {layer: kinds[layer] for layer in layer_names if kinds[layer] in attention}
    measured = sorted(set(rep.values()), key=layer_names.index)
    others = _other_children(model, {layer: attention[layer] for layer in measured})
    names = {n for group in others.values() for n in group}
    short, last = LENGTHS[1], measured[-1]
    try:
        model.set_attn_implementation(STUB)
        fused = module_peaks(model, short, names, stop_after=last)
        model.set_attn_implementation("eager")
        eager = module_peaks(model, short, names, mask=True, stop_after=last)
        p1, p2 = (module_peaks(model, n, {attention[m] for m in measured}, mask=True, stop_after=last)
                  for n in EAGER_LENGTHS)
    except Exception:  # noqa: BLE001 - keep the closed form
        return {}
    finally:
        with contextlib.suppress(Exception):
            model.set_attn_implementation(previous)
    (s1, s2), fits = EAGER_LENGTHS, {}
    for layer in measured:
        module = attention[layer]
        if not (p1.get(module) and p2.get(module)):
            continue
        quad = (p2[module] / s2 - p1[module] / s1) / (s2 - s1)
        kept = max([eager[c] - fused[c] for c in others[layer] if c in eager and c in fused] + [0])
        fits[layer] = (max(quad, 0.0), max(p1[module] / s1 - quad * s1, 0.0), kept / short**2)
    return {layer: fits[r] for layer, r in rep.items() if r in fits}


def eager_fits_fp32(model, layer_names: list[str], previous: str, kinds: dict[str, str]) -> dict[str, tuple[float, float, float]]:
    """``eager_fits`` of a float32 copy of the model; its MoE experts run their loop, taking every
    expert as chosen on meta (grouped_mm has no float32 meta kernel; the attention is what is read)."""
    import copy

    import torch
    from torch.fx.experimental import _config as fx_config

    fp32 = copy.deepcopy(model).to(torch.float32)
    with contextlib.suppress(Exception):  # a model without pluggable experts keeps its own
        fp32.set_experts_implementation("eager")
    with fx_config.patch(meta_nonzero_assume_all_nonzero=True):
        return eager_fits(fp32, layer_names, previous, kinds)

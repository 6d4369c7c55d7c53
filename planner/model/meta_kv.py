"""What transformers' own cache holds per layer, measured by a forward pass on the meta device.

A two-token prefill of the meta-built model (no storage, no arithmetic) returns the very cache
``generate`` would fill: per layer, the keys and values (and a DSA layer's indexer keys) grow
with the tokens, a sliding layer names its window, a layer that reuses an earlier layer's KV is
a ``DummyLayer``, and a recurrent layer (Mamba, gated delta net) holds conv and recurrent
states of a fixed size. Measuring the real cache covers every attention kind transformers
ships, including the ones no closed form in the planner knows. Models whose forward cannot run
on the meta device (``.item()`` in their masks, data-dependent routing) keep the config route.
"""

from __future__ import annotations

from dataclasses import dataclass

TOKENS = 2
_GROWING = ("keys", "values", "indexer_keys")


MISALIGNED = "the cache's entries are not the decoder layers: measure it with every layer run"


@dataclass(frozen=True)
class LayerCache:
    values_per_token: int
    """Cache elements one token adds (K and V and any indexer keys)."""
    window: int | None
    state_elements: int
    """Recurrent state elements per sequence in the model dtype."""
    state_fixed_bytes: int
    """Bytes per sequence of state tensors at another width (fp32 SSM states)."""


def _tensors(value, torch):
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _tensors(v, torch)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _tensors(v, torch)


def _layer(layer, torch, float_dtype) -> LayerCache:
    growing = state = fixed = 0
    for name, value in vars(layer).items():
        for t in _tensors(value, torch):
            if name in _GROWING:
                growing += t.numel()
            elif name.endswith(("states", "state")):
                if t.dtype == float_dtype:
                    state += t.numel()
                else:
                    fixed += t.numel() * t.element_size()
    window = getattr(layer, "sliding_window", None)
    return LayerCache(growing // TOKENS, window if isinstance(window, int) and window > 0 else None, state, fixed)


def measure_cache(model, float_dtype, kinds=None) -> list[LayerCache] | str | None:
    """Per decoder layer (in layer order), what the cache holds; None when the forward cannot run.
    With ``kinds`` (meta_kinds), every layer takes the figures of the first of its kind, or
    ``MISALIGNED`` when the cache does not hold one entry per decoder layer."""
    import torch

    try:
        with torch.no_grad():
            ids = torch.zeros((1, TOKENS), dtype=torch.long, device="meta")
            out = model(input_ids=ids, use_cache=True)
    except Exception:  # noqa: BLE001 - any model that cannot run on meta keeps the config route
        return None
    cache = getattr(out, "cache", None)
    if cache is None:
        cache = getattr(out, "past_key_values", None)
    layers = getattr(cache, "layers", None)
    if not layers:
        return None
    if kinds is None or not kinds.skipped:
        return [_layer(layer, torch, float_dtype) for layer in layers]
    if len(layers) != len(kinds.index_rep):  # the cache is not one entry per decoder layer (MiniMax)
        return MISALIGNED
    return [_layer(layers[kinds.index_rep[i]], torch, float_dtype) for i in range(len(layers))]

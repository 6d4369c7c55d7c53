"""What the meta forwards measure on a model built on the meta device, put on its units: what
transformers' cache holds per layer (meta_kv.py), each decoder layer's activation peak and eager
attention (meta_activations.py, meta_eager.py) and the head's phase (meta_head.py), run on the first
layer of each kind (meta_kinds.py) with transformers' own log lines kept out of the terminal."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import replace

from planner.model.meta_activations import measure_activations
from planner.model.meta_head import logits_copies
from planner.model.meta_kinds import layer_kinds, only_first_of_each_kind
from planner.model.meta_kv import MISALIGNED, measure_cache
from planner.model.types import AttentionSpec, Unit


def measured_units(model, hf_config, text, units: list[Unit], float_dtype) -> tuple[list[Unit], list[str]]:
    """The units with what the meta forwards measure (cache, activation peaks, the head's phase),
    run on the first layer of each kind (meta_kinds), and the notes saying what was measured."""
    from planner.model.hf_config import SUPPORTED

    layers = [u.name for u in units if u.kind == "decoder_layer"]
    kinds = layer_kinds(model, layers)
    notes = []
    with quiet_library(), only_first_of_each_kind(kinds):
        measured = measure_cache(model, float_dtype, kinds)
        peaks = measure_activations(model, layers, kinds) if layers and not (
            {hf_config.model_type, text.model_type} & set(SUPPORTED)) else None  # closed forms measured for those
        copies = logits_copies(model)
    if measured is MISALIGNED:
        with quiet_library():
            measured = measure_cache(model, float_dtype)
    if measured is None:
        notes.append("KV cache from the config (the model's forward does not run on the meta device)")
    else:
        units = [_with_cache(u, measured) for u in units]
    if peaks:
        units = [_with_activations(u, peaks[u.name]) if u.name in peaks else u for u in units]
        notes.append("activation peaks measured on the meta device (counted as torch's MemTracker counts)")
    if copies:  # every family, the hand-written ones too: their head traits are checked against it
        units = [replace(u, logits_copies=round(copies, 4)) if u.kind == "head" else u for u in units]
    return units, notes


@contextlib.contextmanager
def quiet_library():
    """transformers' own log lines (kernel fallbacks, deprecations) and Python warnings stay out of
    the user's terminal while the planner builds and runs a model it only measures."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)


def _with_cache(u: Unit, measured: list) -> Unit:
    """A decoder layer with what transformers' cache really holds for it (see meta_cache)."""
    if u.kind != "decoder_layer" or u.layer_index is None or u.layer_index >= len(measured):
        return u
    from planner.costs.kv_cache import kv_values_per_token

    m = measured[u.layer_index]
    attn = u.attention
    if attn is None and m.values_per_token:
        attn = AttentionSpec(1, 1, m.values_per_token // 2, m.values_per_token - m.values_per_token // 2, m.window)
    if attn is not None:
        attn = replace(attn, sliding_window=m.window, hf_values_per_token=None)
        if kv_values_per_token(attn, "hf") != m.values_per_token:
            attn = replace(attn, hf_values_per_token=m.values_per_token)
    return replace(u, attention=attn, state_elements=m.state_elements, state_fixed_bytes=m.state_fixed_bytes)


def _with_activations(u: Unit, fit: tuple[float, ...]) -> Unit:
    return replace(u, activation_per_token=fit[0], activation_base=fit[1], eager_per_token2=fit[2], eager_per_token=fit[3],
                   eager_kept_per_token2=fit[4], eager32_per_token2=fit[5], eager32_per_token=fit[6],
                   eager32_kept_per_token2=fit[7])

"""Activation peaks of each decoder layer, measured as torch's MemTracker counts them (meta_peaks.py)
on a meta-device forward.

The meta-built model runs a prefill with no storage and no arithmetic while the tracker records,
per module, the memory alive at its peak: exactly what MemTracker records on real tensors, except for
attention, which on the meta device falls back to the math kernel and materialises the score
matrix that SDPA's fused CPU/GPU kernels never hold. So attention is swapped for a stand-in that
allocates only the output a fused kernel returns; the eager kernel's score term is added back by
the closed form in costs/activations.py. Two prompt lengths give each layer's peak as bytes per
token plus a constant (a prefill's activations grow linearly with the tokens under fused kernels).
Measured against MemTracker on real CPU forward passes: within 0.1% for dense, MoE, Mamba and
gated-delta-net layers (tests/test_activations_any_architecture.py).
"""

from __future__ import annotations

import contextlib
import warnings

from planner.model.meta_peaks import ModulePeaks

STUB = "planner_fused_attention_stub"
LENGTHS = (64, 128)  # whole 64-token chunks (gated delta nets); short, as Mamba reference scans loop per token


def _stub(module, query, key, value, attention_mask, **kwargs):
    """What a fused attention kernel allocates: the output [batch, seq, heads, v_dim] only."""
    b, h, s, _ = query.shape
    return query.new_empty((b, s, h, value.shape[-1])), None


def register_stub() -> None:
    from transformers import AttentionInterface

    if STUB not in AttentionInterface._global_mapping:
        AttentionInterface.register(STUB, _stub)


@contextlib.contextmanager
def fused_attention(model):
    """While open, the model's attention runs the fused stand-in; yields the kernel it had, or None
    when the model takes no attention interface (it keeps its own). The kernel is set back after,
    whatever failed."""
    try:
        register_stub()
        previous = model.config._attn_implementation
        model.set_attn_implementation(STUB)
    except Exception:  # noqa: BLE001 - a model without the attention interface
        previous = None
    try:
        yield previous
    finally:
        if previous is not None:
            with contextlib.suppress(Exception):
                model.set_attn_implementation(previous)


@contextlib.contextmanager
def parameter_views_detached():
    """While it is open (and before a MemTracker is entered), modules get views of parameters
    detached. A view taken under no_grad still requires grad but has no gradient function, and
    MemTracker's module hooks fail on it (transformers 5.25 hands its kernel modules such views:
    a Mamba layer's conv1d weight). Nothing measured needs gradients, and MemTracker counts
    parameters as parameters, not as arguments."""
    import torch

    def dangling(a) -> bool:
        return isinstance(a, torch.Tensor) and a.requires_grad and a.grad_fn is None and a._base is not None

    def detach(module, args):
        if any(dangling(a) for a in args):
            return tuple(a.detach() if dangling(a) else a for a in args)
        return None

    hook = torch.nn.modules.module.register_module_forward_pre_hook(detach)
    try:
        yield
    finally:
        hook.remove()


@contextlib.contextmanager
def meta_as_traced():
    """While open, transformers' mask code takes meta tensors as traced (as it takes fake tensors:
    ``is_tracing``), so it skips the checks that read a mask's values (packed sequences, an all-ones
    padding mask), which cannot run on meta; the masks it then builds are those of a real forward."""
    import torch
    from transformers import masking_utils

    original = masking_utils.is_tracing
    masking_utils.is_tracing = lambda tensor=None: original(tensor) or (isinstance(tensor, torch.Tensor) and tensor.is_meta)
    try:
        yield
    finally:
        masking_utils.is_tracing = original


class _StopForwardError(Exception):
    """Raised after the last module a measurement needs: the rest of the forward is not run."""


def module_peaks(model, tokens: int, names: set[str], mask: bool = False, stop_after: str | None = None) -> dict[str, int]:
    """The activation bytes at the forward peak of each module named (counted as MemTracker counts
    them, meta_peaks.py), for one sequence of ``tokens``; ``mask`` passes an attention mask of ones,
    built as a real forward builds it (``meta_as_traced``); ``stop_after`` ends the forward once that
    module has run."""
    import torch

    ids = torch.zeros((1, tokens), dtype=torch.long, device="meta")
    extra = {"attention_mask": torch.ones((1, tokens), dtype=torch.long, device="meta")} if mask else {}
    modules = dict(model.named_modules())

    def stop(module, args, output):
        raise _StopForwardError

    hook = modules[stop_after].register_forward_hook(stop) if stop_after in modules else None
    tracker = ModulePeaks(model, names)
    try:
        with warnings.catch_warnings(), parameter_views_detached(), torch.no_grad(), tracker, \
                meta_as_traced() if mask else contextlib.nullcontext():
            warnings.simplefilter("ignore")
            out = model(input_ids=ids, use_cache=False, **extra)
            del out
    except _StopForwardError:
        pass
    finally:
        if hook is not None:
            hook.remove()
    return dict(tracker.peaks)


def measure_activations(model, layer_names: list[str], kinds) -> dict[str, tuple[float, ...]] | None:
    """Per decoder layer, (bytes per prompt token, constant bytes) of its forward peak under a
    fused attention kernel, then the eager kernel's (per token^2, per token, kept per token^2) in the
    model's 16-bit dtype and in fp32 (meta_eager.py; zeros where that cannot run on meta), all per
    sequence; None when the forward cannot run on meta. The first layer of each kind (``kinds``,
    meta_kinds) is measured and the others take its figures."""
    from planner.model.meta_kinds import measured_layers

    measured = measured_layers(kinds, layer_names)
    with fused_attention(model) as previous:
        if previous is None:  # a model without the attention interface keeps the closed form
            return None
        try:
            a, b = (module_peaks(model, n, set(measured)) for n in LENGTHS)
        except Exception:  # noqa: BLE001 - data-dependent code (.item(), nonzero) cannot run on meta
            return None
    from planner.model.meta_eager import eager_fits, eager_fits_fp32

    eager = eager_fits(model, layer_names, previous, kinds.rep) if layer_names else {}
    eager32 = eager_fits_fp32(model, layer_names, previous, kinds.rep) if eager else {}
    out = {}
    for name in layer_names:
        rep = kinds.rep[name]
        if a.get(rep) and b.get(rep, 0) >= a[rep]:
            slope = (b[rep] - a[rep]) / (LENGTHS[1] - LENGTHS[0])
            out[name] = (slope, max(a[rep] - slope * LENGTHS[0], 0.0), *eager.get(name, (0.0, 0.0, 0.0)),
                         *eager32.get(name, (0.0, 0.0, 0.0)))
    return out




"""Layer kinds: the meta forwards run one layer of each kind, not the whole depth.

A decoder stack repeats a few kinds of layer (every layer alike; sliding and full attention in a
pattern; dense first, then MoE; Mamba with attention every few layers). Two layers are of one kind
when everything their forward can read is equal: the class and tensors (name, shape, dtype) of every
submodule, every plain attribute of every submodule (``sliding_window``, ``layer_type``,
``use_rope``, ``is_kv_shared_layer`` ...) except the layer's own index, and every per-layer entry
of the config (any list as long as the stack). A layer's measured figures can depend on the layer
before it too (what that one leaves alive), so the kind of a layer is the pair (its signature, the
previous layer's); the first layer is a kind of its own. Last, the model around the layers can keep
more alive at some of them (Dory keeps its input section's output through its recurrent loop): a
probe forward reads the bytes alive as each layer is called, and layers of one kind must agree.

The forwards then run the stack up to the last first-of-its-kind layer, exactly as the full forward
runs it, and every later layer returns what the last real layer returned without running (no hooks,
no ops): the head still runs, so its phase is measured, and the forward's cost no longer grows with
the depth. Each later layer takes the figures of the first layer of its kind.
tests/test_layer_kinds.py checks the figures equal the full forward's on every architecture.
``PLANNER_META_KINDS=off`` runs every layer (the reference the test compares against).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from functools import partial
from typing import Any

_PLAIN = (int, float, str, bool, type(None))
_INDEX_WORDS = ("idx", "index", "layer_id", "layer_num", "number")


@dataclass(frozen=True)
class LayerKinds:
    """Which decoder layers run for real, and whose figures every layer takes."""

    rep: dict[str, str]
    """Per decoder layer, the layer measured for it (itself when it is the first of its kind)."""
    index_rep: dict[int, int]
    """The same by layer index (what the cache is keyed by)."""
    skipped: list[tuple[Any, int, Any]] = field(default_factory=list)
    """(ModuleList, position, layer) of the layers after the last one measured: they do not run."""
    last_real: Any = None
    """The layer module that runs last (its output is what a skipped layer returns)."""
    stack: Any = None
    """The ModuleList of the layers."""


def _plain(value) -> Any:
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple | list) and all(isinstance(v, _PLAIN) for v in value):
        return tuple(value)
    return None


def _is_own_index(key: str, value, index: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in (index, index + 1) and (
        any(w in key.lower() for w in _INDEX_WORDS) or key.lower() in ("layer", "i", "depth"))


def signature(layer, index: int, config_lists: dict[str, list]) -> tuple:
    """Everything a layer's forward can read, less its own index (see the module docstring)."""
    import torch

    parts: list = []
    for sub, module in layer.named_modules():
        attrs = []
        for key, value in sorted(vars(module).items()):
            if key.startswith("_") or key == "training" or isinstance(value, torch.Tensor | torch.nn.Module):
                continue
            if _is_own_index(key, value, index):
                continue
            plain = _plain(value)
            attrs.append((key, plain if plain is not None or value is None else type(value).__qualname__))
        tensors = tuple((n, tuple(t.shape), str(t.dtype)) for n, t in
                        list(module._parameters.items()) + list(module._buffers.items()) if t is not None)
        parts.append((sub, type(module).__qualname__, tensors, tuple(attrs)))
    per_layer = tuple((k, repr(v[index])) for k, v in sorted(config_lists.items()))
    return tuple(parts), per_layer


def _config_lists(config, depth: int) -> dict[str, list]:
    text = config.get_text_config(decoder=True) if hasattr(config, "get_text_config") else config
    out = {}
    for key, value in vars(text).items():
        if isinstance(value, list | tuple) and len(value) == depth and not key.startswith("_"):
            out[key] = list(value)
    return out


def layer_kinds(model, layer_names: list[str]) -> LayerKinds:
    """The kinds of one decoder stack (``layer_names`` in order, named ``prefix.<index>``); every
    layer runs (no kinds) when ``PLANNER_META_KINDS=off``, when the names are not one stack, or when
    their indexes are not 0..n-1 of one ModuleList."""
    import torch

    modules = dict(model.named_modules())
    indexes = [int(n.rsplit(".", 1)[-1]) if n.rsplit(".", 1)[-1].isdigit() else -1 for n in layer_names]
    prefixes = {n.rsplit(".", 1)[0] for n in layer_names}
    every = LayerKinds({n: n for n in layer_names}, {i: i for i in indexes})
    off = os.environ.get("PLANNER_META_KINDS", "on").lower() in ("off", "0", "no")
    if off or len(prefixes) != 1 or indexes != list(range(len(layer_names))):
        return every
    lists = _config_lists(model.config, len(layer_names))
    stack = modules[prefixes.pop()]
    if not isinstance(stack, torch.nn.ModuleList) or any(stack[i] is not modules[n] for i, n in enumerate(layer_names)):
        return every
    ids: dict[tuple, int] = {}
    pairs: list[tuple] = []
    previous = None
    for i, name in enumerate(layer_names):
        sig = ids.setdefault(signature(modules[name], i, lists), len(ids))
        pairs.append((previous, sig))
        previous = sig
    kinds = _kinds(stack, layer_names, modules, _first_of(pairs), set(range(len(layer_names))))
    return _by_entry_bytes(model, kinds, stack, layer_names, modules, pairs) or every


def _first_of(keys: list) -> dict[int, int]:
    first: dict = {}
    return {i: first.setdefault(key, i) for i, key in enumerate(keys)}


def _kinds(stack, layer_names: list[str], modules: dict, rep_index: dict[int, int], called: set[int]) -> LayerKinds:
    """The kinds of a rep map; the layers after the last rep that the forward calls do not run."""
    last = max(rep_index[i] for i in called) if called else len(layer_names) - 1
    skipped = [(stack, i, modules[layer_names[i]]) for i in range(last + 1, len(layer_names))]
    return LayerKinds({n: layer_names[rep_index[i]] for i, n in enumerate(layer_names)}, rep_index, skipped,
                      modules[layer_names[last]], stack)


def _by_entry_bytes(model, kinds: LayerKinds, stack, layer_names, modules, pairs) -> LayerKinds | None:
    """The kinds split by what the model keeps alive when each layer is called (a loop that keeps
    the input section's output for its recurrent layers, as Dory's does, makes those layers a kind
    of their own although their signatures are the same): a forward with the skipped layers stood
    in reads the activation bytes alive at each layer's call; layers of one kind must agree, and
    the split is redone until it holds. A layer the forward never calls is its own kind. None when
    the forward cannot run or the split does not settle."""
    for _ in range(4):
        entries = _entry_bytes(model, kinds)
        if entries is None:
            return None
        keys = [(pairs[i], entries.get(i, ("never called", i))) for i in range(len(layer_names))]
        rep_index = _first_of(keys)
        if rep_index == kinds.index_rep:
            return kinds
        kinds = _kinds(stack, layer_names, modules, rep_index, set(entries))
    return None


def _entry_bytes(model, kinds: LayerKinds) -> dict[int, int] | None:
    """Activation bytes alive at the first call of each decoder layer (by index), in a forward of 64
    tokens (the fused-kernel stand-in where the model takes one) with the skipped layers stood in;
    None when the forward cannot run."""
    import warnings

    import torch

    from planner.model.meta_activations import fused_attention, parameter_views_detached
    from planner.model.meta_peaks import ModulePeaks

    entries: dict[int, int] = {}
    tracker = None

    def called(index: int) -> None:
        entries.setdefault(index, tracker.current)

    # the model is made shallow first: setting the attention kernel and the tracker then walk only it;
    # a model without the attention interface runs its own kernel (the same for every layer)
    with only_first_of_each_kind(kinds, on_layer=called), fused_attention(model):
        tracker = ModulePeaks(model, set())
        try:
            with warnings.catch_warnings(), parameter_views_detached(), torch.no_grad(), tracker:
                warnings.simplefilter("ignore")
                model(input_ids=torch.zeros((1, 64), dtype=torch.long, device="meta"), use_cache=False)
        except Exception:  # noqa: BLE001 - data-dependent code cannot run on meta
            return None
    return entries


def measured_layers(kinds: LayerKinds, layer_names: list[str]) -> list[str]:
    """The layers whose figures are read: the first of each kind, in order."""
    reps = set(kinds.rep.values())
    return [n for n in layer_names if n in reps]


def _called(on_layer, index: int, module, args) -> None:
    """A pre-hook that reports the call and leaves the arguments as they are (it returns None)."""
    on_layer(index)


_STAND_IN_CLASSES: dict[type, tuple[type, dict]] = {}


def _stand_in_call(self, *args, **kwargs):
    last = object.__getattribute__(self, "_planner_last")
    if "output" not in last:
        raise RuntimeError("a skipped layer ran before any real one")
    if last.get("on_layer") is not None:
        last["on_layer"](object.__getattribute__(self, "_planner_index"))
    return last["output"]


def _stand_in_getattr(self, name):
    import torch

    try:
        return torch.nn.Module.__getattr__(self, name)
    except AttributeError:
        return getattr(object.__getattribute__(self, "_planner_layer"), name)


def _stand_in(layer, last: dict, index: int):
    """An instance of the layer's own class (isinstance checks hold) with no tensors and no submodules:
    attributes it lacks are read from the layer, and calling it returns the last real layer's output
    without running anything (``__call__`` on the class, so no module hook fires). One stand-in class
    per layer class: a class is built once, not once per layer."""
    import copy

    import torch

    cls = type(layer)
    if cls not in _STAND_IN_CLASSES:
        sub = type(f"Skipped{cls.__name__}", (cls,), {
            "__call__": _stand_in_call, "__getattr__": _stand_in_getattr, "__deepcopy__": lambda self, memo: self})
        template = sub.__new__(sub)
        torch.nn.Module.__init__(template)
        _STAND_IN_CLASSES[cls] = (sub, dict(vars(template)))
    sub, state = _STAND_IN_CLASSES[cls]
    stand = sub.__new__(sub)
    # Module.__init__'s empty registries, each its own copy (Module.__init__ itself costs ~80 us a layer)
    object.__setattr__(stand, "__dict__", {k: copy.copy(v) for k, v in state.items()})
    object.__setattr__(stand, "_planner_layer", layer)
    object.__setattr__(stand, "_planner_last", last)
    object.__setattr__(stand, "_planner_index", index)
    return stand


@contextlib.contextmanager
def only_first_of_each_kind(kinds: LayerKinds | None, on_layer=None):
    """While open, the layers after the last one measured are out of the model: each is replaced in
    its ModuleList by a stand-in that returns the last real layer's output without running, so the
    forwards and the memory trackers (which walk every parameter of the model) see a shallow model.
    ``on_layer(index)`` is called as each layer of the stack is called, real or stood in."""
    if kinds is None or kinds.last_real is None or (not kinds.skipped and on_layer is None):
        yield
        return
    last: dict[str, Any] = {"on_layer": on_layer}
    handles = [kinds.last_real.register_forward_hook(lambda module, args, output: last.__setitem__("output", output))]
    if on_layer is not None and kinds.stack is not None:
        for i in range(kinds.skipped[0][1] if kinds.skipped else len(kinds.stack)):
            handles.append(kinds.stack[i].register_forward_pre_hook(partial(_called, on_layer, i)))
    try:  # ModuleList keeps its children under str(position): set there, as ``stack[i] = m`` does
        for parent, key, layer in kinds.skipped:
            parent._modules[str(key)] = _stand_in(layer, last, key)
        yield
    finally:
        for h in handles:
            h.remove()
        for parent, key, layer in kinds.skipped:
            parent._modules[str(key)] = layer

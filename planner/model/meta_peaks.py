"""Activation bytes alive at each named module's forward peak, counted as torch's MemTracker counts
them, at a fraction of its cost.

MemTracker (torch.distributed._tools) files every storage an op creates as an activation, takes
parameters and buffers as already there, drops a storage's bytes when it is freed, and for each
module keeps the snapshot of the moment the process total peaked while the module ran (the entry
snapshot when nothing ran higher). It also walks every module it has seen and every parameter of
the model on each op, which made the meta route's forwards grow with the square of the depth.
This tracker keeps only what the planner reads (activation bytes on the model's device at each
named module's peak, on its first call) with the same rules: a dispatch mode that sees every op's
outputs, weak references that see storages freed, and hooks on the named modules alone. Tensors on
another device (the CPU scalars ``torch.tensor(0.5)`` makes) are not the accelerator's memory and
are left out, as MemTracker's snapshot of the model's device leaves them out.
tests/test_layer_kinds.py checks it equals MemTracker on every architecture.
"""

from __future__ import annotations

from typing import Any


class ModulePeaks:
    """Context manager: ``peaks[name]`` is the activation bytes at the module's forward peak."""

    def __init__(self, model, names: set[str]):
        self.model = model
        self.modules = {m: n for n, m in model.named_modules() if n in names}
        first = next(iter(model.parameters()), None)
        self.device = first.device if first is not None else None
        self.peaks: dict[str, int] = {}
        self.current = 0
        self._active: dict[Any, str] = {}
        self._handles: list = []
        self._mode = None

    def _op(self, outputs) -> None:
        """Every op's outputs (the hot path: what it needs is bound in ``__enter__``)."""
        sizes, tensor = self._sizes, self._tensor
        for t in self._flatten(outputs)[0]:
            if not isinstance(t, tensor) or (self.device is not None and t.device != self.device):
                continue
            st = t.untyped_storage()
            cell = sizes.get(st)
            if cell is None:
                cell = [st.nbytes()]
                sizes[st] = cell
                self.current += cell[0]
                self._finalize(st, self._freed, cell)
            elif cell[0] is not None and cell[0] != st.nbytes():  # resized in place
                self.current += st.nbytes() - cell[0]
                cell[0] = st.nbytes()
        for name in self._active.values():
            if self.current > self.peaks[name]:
                self.peaks[name] = self.current

    def _freed(self, cell: list) -> None:
        self.current -= cell[0]

    def __enter__(self):
        import weakref

        import torch
        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten
        from torch.utils.weak import WeakIdKeyDictionary

        self._flatten, self._tensor, self._finalize = tree_flatten, torch.Tensor, weakref.finalize

        self._sizes = WeakIdKeyDictionary()
        for t in [*self.model.parameters(), *self.model.buffers()]:
            self._sizes[t.untyped_storage()] = [None]  # there before the forward: not an activation
        tracker = self

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                tracker._op(out)
                return out

        def pre(module, args):
            name = self.modules[module]
            if name not in self.peaks:  # the first call is the one read, as MemTracker's first snapshot
                self.peaks[name] = self.current
                self._active[module] = name

        def post(module, args, output):
            self._active.pop(module, None)

        for module in self.modules:
            self._handles.append(module.register_forward_pre_hook(pre))
            self._handles.append(module.register_forward_hook(post, always_call=True))
        self._mode = Mode()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        try:
            return self._mode.__exit__(*exc)
        finally:
            for h in self._handles:
                h.remove()
            self._active.clear()

"""torch's MemTracker behind the interface of planner.model.meta_peaks.ModulePeaks: the reference the
planner's own tracker is checked against (tests/test_layer_kinds.py)."""

from __future__ import annotations


class _NoHook:
    def remove(self) -> None:
        pass


class MemTrackerPeaks:
    """``peaks[name]``: MemTracker's activation bytes on the model's device in the module's first
    forward-peak snapshot."""

    def __init__(self, model, names: set[str]):
        from torch.distributed._tools.mem_tracker import MemTracker

        self.model, self.names = model, names
        self.tracker = MemTracker()
        for p in model.parameters():  # MemTracker hooks every parameter's gradient, which fails on one
            if not p.requires_grad:   # that needs none (a routing bias): it has no gradient to count anyway
                self.tracker._param_to_grad_hook_handles[p] = (_NoHook(), _NoHook())
        self.tracker.track_external(model)
        self.peaks: dict[str, int] = {}

    def __enter__(self):
        self.tracker.__enter__()
        return self

    def __exit__(self, *exc):
        from torch.distributed._tools.mem_tracker import _ModState

        try:
            return self.tracker.__exit__(*exc)
        finally:
            modules = dict(self.model.named_modules())
            for name in self.names:
                stats = self.tracker.memory_tracking.get(modules.get(name))
                snaps = stats.snapshots.get(_ModState.PEAK_FW) if stats is not None else None
                if snaps:
                    device = next(self.model.parameters()).device
                    self.peaks[name] = snaps[0].get(device, {}).get("Activation", 0)

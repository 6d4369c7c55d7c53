"""The head's phase of any architecture, measured on the meta device: how many logits-sized tensors
are alive at once from the head on, counting what the forward does to the logits after the head
module returns (Cohere's logit scale, Gemma's soft-cap, an fp32 copy), which a module's own peak
never shows."""

from __future__ import annotations

from planner.model.meta_activations import LENGTHS, fused_attention, parameter_views_detached


def logits_copies(model, tokens: int = LENGTHS[1]) -> float | None:
    """Logits-sized tensors alive at once from the head on (the head's output and what the forward
    does to it after: a scale, a soft-cap, an fp32 copy), in units of one logits tensor of the head's
    output dtype: the bytes allocated after the head starts, at their peak, over one logits tensor.
    None when the forward cannot run on meta."""

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None or not hasattr(head, "out_features"):
        return None
    with fused_attention(model) as previous:  # as for the layers: the head's phase does not depend on the kernel
        return _head_peak(model, head, tokens) if previous is not None else None


def _head_peak(model, head, tokens: int) -> float | None:
    import torch

    alive = _Alive([*model.parameters(), *model.buffers()])

    def start(module, args):
        alive.existing += [a for a in args if isinstance(a, torch.Tensor)]  # its input is no new allocation
        alive.__enter__()

    hook = head.register_forward_pre_hook(start)
    ids = torch.zeros((1, tokens), dtype=torch.long, device="meta")
    try:
        with parameter_views_detached(), torch.no_grad():
            model(input_ids=ids, use_cache=False)
    except Exception:  # noqa: BLE001 - data-dependent code cannot run on meta
        return None
    finally:
        hook.remove()
        if alive.active:
            alive.__exit__(None, None, None)
    per = tokens * head.out_features * head.weight.element_size()
    return alive.peak / per if alive.peak else None


class _Alive:
    """Bytes of the tensors allocated while it is entered, at their peak (storages freed lower it):
    a dispatch mode that sees every op's outputs, as MemTracker does, with no module bookkeeping."""

    def __init__(self, existing=()):
        self.active, self.current, self.peak = False, 0, 0
        self.existing = list(existing)
        """Tensors whose storage is not an allocation (the model's weights: a view of one is not new)."""

    def __enter__(self):
        import weakref

        from torch.utils._python_dispatch import TorchDispatchMode
        from torch.utils._pytree import tree_flatten
        from torch.utils.weak import WeakIdKeyDictionary

        tracker, seen = self, WeakIdKeyDictionary()
        for t in self.existing:
            seen[t.untyped_storage()] = 0

        def freed(nbytes: int) -> None:
            tracker.current -= nbytes

        class Mode(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                import torch

                out = func(*args, **(kwargs or {}))
                for t in tree_flatten(out)[0]:
                    if isinstance(t, torch.Tensor):
                        st = t.untyped_storage()
                        if st not in seen:
                            seen[st] = st.nbytes()
                            tracker.current += st.nbytes()
                            weakref.finalize(st, freed, st.nbytes())
                tracker.peak = max(tracker.peak, tracker.current)
                return out

        self.mode = Mode()
        self.mode.__enter__()
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False
        return self.mode.__exit__(*exc)

"""What a training step allocates beyond its model states and saved activations: the optimizer
step's temporaries and the data-parallel communication buffers, and the peak of each phase.

Optimizer step temporaries, on the GPU, per implementation (measured with torch's MemTracker on
torch 2.13, tests/test_training_step_vs_torch.py; "state bytes" s = 4 for fp32 and for the fp32
master weights of bf16-mixed, 2 for pure bf16):

    AdamW  for-loop  2 x the largest tensor x s   (exp_avg_sq.sqrt() and its division, per tensor)
           foreach   every tensor x s             (torch._foreach_sqrt of all exp_avg_sq at once)
           fused     0                            (one kernel updates in place)
    SGD    any       0                            (momentum updated in place; no weight decay)
    Adafactor        2 x the largest x 4 for fp32 tensors, 4 x the largest x 4 for bf16 ones
                     (transformers' Adafactor loops over tensors; it upcasts grad and weight)
    AdamW 8-bit      0                            (bitsandbytes' blockwise kernel, in place)

Under ZeRO (DeepSpeed) the optimizer sees one flat fp32 partition per parameter group, so a
for-loop or foreach implementation works on the whole partition at once. What runs by default
(``--optimizer-impl auto``): with ZeRO, DeepSpeed's FusedAdam (fused; DeepSpeedCPUAdam on the
CPU when the optimizer is offloaded, nothing on the GPU) and torch's SGD (foreach); without
ZeRO, the HF Trainer's default ``adamw_torch_fused`` (fused; transformers >= 4.55 with torch >= 2.8),
torch's SGD (foreach) and transformers' Adafactor (for-loop).

Communication buffers: DDP (no ZeRO, several GPUs) keeps one flat copy of all gradients in its
buckets (``gradient_as_bucket_view=False``, the default of torch and of the HF Trainer), from
its construction on. ZeRO-1/2 with ``contiguous_gradients`` (DeepSpeed's default) stage
gradients in a ``reduce_bucket_size``-element buffer of the gradient dtype, two with
``overlap_comm``; ZeRO-3 keeps one such buffer, and gathers whole layers ahead of use up to
``stage3_prefetch_bucket_size`` more parameters (bf16 weights), never more than
``stage3_max_live_parameters``. The DeepSpeed config the planner prints sets these sizes by the
HF integration's ``auto`` rules (hidden^2 and 0.9 hidden^2), so the figures are those of the
config printed; DeepSpeed's own parser reads them back in the tests. ``allgather_bucket_size``
only shards the all-gather of updated weights over views of the flat buffer: no memory.

Phases: the end of forward (states, every saved activation, the loss's logits), the end of
backward (states and every gradient), the optimizer step (states, gradients, temporaries). The
first step has the same step peak: torch creates the states inside its first ``step()``, and
DeepSpeed at initialisation.
"""

from __future__ import annotations

OPTIMIZER_IMPLS = ("auto", "fused", "foreach", "forloop")


def resolved_impl(optimizer: str, impl: str, zero: int) -> str:
    """The implementation that runs the step (see the module docstring for the defaults)."""
    if optimizer == "adamw8bit":
        return "fused"
    if optimizer == "adafactor":
        return "forloop"
    if impl != "auto":
        return impl
    return "foreach" if optimizer == "sgd" else "fused"


def step_temporaries(optimizer: str, impl: str, tensors: list[tuple[int, int]]) -> int:
    """Bytes the optimizer step allocates and frees on the GPU; ``tensors`` are (elements, bytes
    per element) of the tensors the optimizer updates on this GPU (the fp32 master copies under
    bf16-mixed), whose states have that dtype too."""
    if not tensors or optimizer in ("sgd", "adamw8bit") or impl == "fused":
        return 0
    if optimizer == "adafactor":
        return max((2 if width >= 4 else 4) * n * 4 for n, width in tensors)
    if impl == "foreach":
        return sum(n * width for n, width in tensors)
    return 2 * max(n * width for n, width in tensors)


DEEPSPEED_DEFAULTS = {"reduce_bucket_size": 5 * 10**8, "stage3_prefetch_bucket_size": 5 * 10**7,
                      "stage3_param_persistence_threshold": 10**5, "stage3_max_live_parameters": 10**9}
"""DeepSpeed 0.19's defaults (runtime/zero/config.py), for a config that does not set them."""


def deepspeed_buckets(hidden: int) -> dict[str, int]:
    """Bucket sizes (elements) the printed DeepSpeed config sets: the HF integration's ``auto``
    values for a model of this hidden size."""
    return {"reduce_bucket_size": hidden * hidden, "stage3_prefetch_bucket_size": int(0.9 * hidden * hidden),
            "stage3_param_persistence_threshold": 10 * hidden, "stage3_max_live_parameters": 10**9}


def comm_buffer_bytes(zero: int, gpus: int, overlap_comm: bool, grad_bytes: int, gradient_width: int,
                      buckets: dict[str, int]) -> int:
    """Bytes of data-parallel communication buffers on one GPU (see the module docstring):
    ``grad_bytes`` is this GPU's full low-precision gradient copy, ``gradient_width`` the bytes of
    one gradient element."""
    if zero == 0:
        return grad_bytes if gpus > 1 else 0
    copies = 2 if (overlap_comm and zero in (1, 2)) else 1
    return copies * buckets["reduce_bucket_size"] * gradient_width


def prefetch_bytes(largest_layer: int, buckets: dict[str, int], width: int = 2) -> int:
    """ZeRO-3: bf16 weights gathered ahead of use beyond the layer being computed."""
    live = min(largest_layer + buckets["stage3_prefetch_bucket_size"], max(buckets["stage3_max_live_parameters"], largest_layer))
    return (live - largest_layer) * width

"""Per-GPU memory that no tensor of the model accounts for.

reserve = CUDA/ROCm context and kernels (per GPU type, from the catalog) + allocator
fragmentation, a fraction of the card (PyTorch's caching allocator rounds blocks and keeps freed
segments; a few percent is typical). Both are settings, not constants of nature.
"""

from __future__ import annotations

DEFAULT_FRAGMENTATION = 0.02


def reserve_bytes(capacity_bytes: int, context_bytes: int, fragmentation: float = DEFAULT_FRAGMENTATION) -> int:
    return context_bytes + int(capacity_bytes * fragmentation)


def gpus_needed(weights_kv_bytes: int, activation_bytes: int, capacity_bytes: int, reserve: int) -> int | None:
    """Fewest identical GPUs whose free memory holds the weights and KV when each also keeps the
    activation peak and its reserve (a lower bound: units do not split; `planner plan` places them)."""
    free = capacity_bytes - reserve - activation_bytes
    if free <= 0:
        return None
    return max(1, -(-weights_kv_bytes // free))

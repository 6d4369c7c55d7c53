"""ModelSpec + Workload -> per-unit costs (weights, KV cache, activation peak) and totals."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from planner.costs.activations import unit_activation_bytes
from planner.costs.kv_cache import kv_layer_bytes, state_bytes
from planner.costs.quant import QuantScheme, make_scheme, scheme_from_quantization_config
from planner.costs.weights import unit_weight_bytes
from planner.recent import by_identity
from planner.spec.types import ModelSpec
from planner.units import DTYPE_BITS
from planner.workload import Workload


@dataclass(frozen=True, slots=True)
class UnitCost:
    name: str
    kind: str
    parameters: int
    weights_bytes: int
    kv_bytes: int
    activation_peak_bytes: int


@dataclass(frozen=True)
class Profile:
    """Exact costs of one model under one workload."""

    spec: ModelSpec
    workload: Workload
    dtype: str
    kv_dtype: str
    quant: QuantScheme | None
    units: tuple[UnitCost, ...]

    @cached_property
    def parameters(self) -> int:
        return self.spec.parameters

    @cached_property
    def weights_bytes(self) -> int:
        return sum(u.weights_bytes for u in self.units)

    @cached_property
    def routed_expert_bytes(self) -> dict[str, int]:
        """Per unit name, the bytes of its routed-expert tensors (whole model, before tensor
        parallelism): the share of the weights a decode step reads only in part."""
        from planner.costs.weights import tensor_bytes

        bits = DTYPE_BITS[self.dtype]
        return {u.name: sum(tensor_bytes(t, bits, self.quant) for t in u.tensors if t.experts > 1) for u in self.spec.units}

    @cached_property
    def routed_mlp(self):
        """The routed-expert MLP of the model's MoE layers (None for a dense model): the top-k and
        expert count that decide how much of those bytes a decode step reads."""
        return next((u.mlp for u in self.spec.units if u.mlp and u.mlp.experts), None)

    @property
    def kv_bytes(self) -> int:
        return sum(u.kv_bytes for u in self.units)

    @property
    def activation_peak_bytes(self) -> int:
        """Largest single-unit peak: activations are transient, one unit runs at a time."""
        return max((u.activation_peak_bytes for u in self.units), default=0)

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.activation_peak_bytes


def resolve_scheme(spec: ModelSpec, w: Workload) -> QuantScheme | None:
    if w.quant == "auto":
        return scheme_from_quantization_config(spec.quantization_config) if spec.source == "config" else None
    return make_scheme(w.quant, w.group_size, True, w.double_quant)


def resolve_dtype(spec: ModelSpec, w: Workload) -> str:
    """The workload's dtype, else what ``from_pretrained(dtype="auto")`` gives (ModelSpec.default_dtype)."""
    if w.dtype:
        return w.dtype
    if spec.dtype_error:
        from planner.errors import ConfigError

        raise ConfigError(spec.dtype_error)
    return spec.default_dtype


@by_identity(16)  # weights do not depend on the workload; the diagnosis and sweeps profile one model many times
def _unit_weights(spec: ModelSpec, bits: int, scheme: QuantScheme | None) -> list[int]:
    """Per-unit weight bytes of a spec at a width and quantization scheme."""
    return [unit_weight_bytes(u, bits, scheme) for u in spec.units]


def profile(spec: ModelSpec, w: Workload) -> Profile:
    dtype = resolve_dtype(spec, w)
    bits = DTYPE_BITS[dtype]
    kv_dtype = w.kv_dtype or dtype
    kv_bits = DTYPE_BITS[kv_dtype]
    scheme = resolve_scheme(spec, w)
    act_w = _vllm_step(w) if w.engine == "vllm" else w
    weights = _unit_weights(spec, bits, scheme)
    costs = []
    for u, weight in zip(spec.units, weights, strict=True):
        costs.append(
            UnitCost(
                u.name, u.kind, u.parameters, weight, kv_layer_bytes(u.attention, w, kv_bits) + state_bytes(u, w, bits),
                unit_activation_bytes(u, act_w, bits, spec.vocab_size),
            )
        )
    return Profile(spec, w, dtype, kv_dtype, scheme, tuple(costs))


VLLM_STEP_TOKENS = 8192
"""vLLM's default max_num_batched_tokens for ``vllm serve`` on cards of 70 GiB or more (2048 on
smaller ones, costs/vllm.py): chunked prefill runs at most this many tokens per forward pass."""


def _vllm_step(w: Workload) -> Workload:
    """The forward pass vLLM runs for this workload: all sequences' tokens flattened into one
    batch, prefilled in chunks of at most VLLM_STEP_TOKENS. Its activation peak is what an
    engine-vllm estimate reports."""
    return vllm_step_workload(w, min(w.batch * w.total_tokens, VLLM_STEP_TOKENS))


def vllm_step_workload(w: Workload, tokens: int) -> Workload:
    """One vLLM forward pass of ``tokens`` batched tokens: one flattened sequence, flash
    attention, the last position's logits (the one rule ``size`` and ``estimate`` share)."""
    return w.model_copy(update={"batch": 1, "prompt_tokens": max(tokens, 1), "new_tokens": 0, "logits": "last",
                                "attn_implementation": "flash_attention_2"})

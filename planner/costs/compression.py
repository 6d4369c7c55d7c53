"""Memory of one-shot compression with llm-compressor's sequential pipeline (GPTQ, SparseGPT,
AWQ, RTN), per unit and at its peak on the GPU and in CPU RAM.

The pipeline (llm-compressor ``oneshot`` with the sequential pipeline, read from its source):
the model sits in CPU RAM; one subgraph at a time (a decoder layer, or a smaller
``sequential_targets`` choice) is moved to the GPU, every calibration sample runs through it,
and its outputs are cached for the next subgraph (on the CPU by default). A VLM's vision tower,
before the first decoder layer, runs whole in the first subgraph.
- GPTQ and SparseGPT give every targeted Linear an fp32 Hessian of in_features x in_features
  (``make_empty_hessian``), all alive while their subgraph is calibrated. MoE experts are
  calibrated as separate Linears (gate, up, down per expert), each with its own Hessian.
  ``offload_hessians`` keeps them in CPU RAM and brings one at a time to the GPU.
- Quantizing one Linear then needs an fp32 copy of its weight, the quantized result and the
  inverse Hessian: 2 x out x in x 4 + in^2 x 4 bytes for the largest Linear of the subgraph
  (RTN: the fp32 copy only; AWQ: the copy and its scaled trial).
- AWQ keeps, for every smoothing mapping, the inputs of the layer it smooths for all samples on
  the GPU (samples x sequence x hidden), the largest of them at a time.
- Calibration activations: one sample's forward through the subgraph (the planner's activation
  model at batch 1, sdpa); the cache of subgraph inputs and outputs is 2 x samples x sequence x
  hidden in the compute dtype, on the CPU unless ``cache_on_gpu``.
Targeted Linears: the decoder Linears a GPTQ/AWQ recipe quantizes (not routers, the head, or
the vision tower).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from planner.costs.activations import unit_activation_bytes
from planner.costs.profile import Profile
from planner.errors import InputError
from planner.model.types import TensorSpec, Unit, layer_indices
from planner.units import DTYPE_BITS

ALGORITHMS = ("gptq", "sparsegpt", "awq", "rtn")


@pydantic_dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True))
class CompressionSetup:
    """Every one-shot compression setting, defined once: the costs read it and ``--mode
    compression``'s flags are generated from it (cli_options)."""

    algorithm: Literal["gptq", "sparsegpt", "awq", "rtn"] = "gptq"
    """Compression algorithm."""
    samples: int = Field(512, ge=1, le=10_000_000)
    """Calibration samples."""
    seq_len: int = Field(2048, ge=1, le=10_000_000)
    """Tokens per calibration sample."""
    sequential_targets: Literal["layer", "sublayer"] = "layer"
    """Subgraphs: decoder layers, or attention and MLP separately."""
    offload_hessians: bool = False
    """Keep SparseGPT's Hessians in CPU RAM (llm-compressor 0.14 offers it for SparseGPT only)."""
    cache_on_gpu: bool = False
    """Keep the calibration cache on the GPU."""
HESSIAN_BYTES = 4


@dataclass(frozen=True)
class Linear:
    name: str
    in_features: int
    out_features: int
    copies: int
    """How many separate Linears of this shape (experts x 2 for a fused gate_up)."""


@dataclass(frozen=True)
class CompressionUnit:
    """One subgraph of the sequential pipeline."""

    name: str
    weights_bytes: int
    hessian_bytes: int
    quantize_bytes: int
    """Temporaries of quantizing its largest Linear."""
    activation_bytes: int
    """One calibration sample through it."""
    largest_hessian_bytes: int
    awq_cache_bytes: int = 0


@dataclass(frozen=True)
class CompressionCost:
    setup: CompressionSetup
    units: tuple[CompressionUnit, ...]
    model_bytes: int
    cache_bytes: int
    """Cached subgraph inputs and outputs for all samples."""

    algorithm = property(lambda self: self.setup.algorithm)
    samples = property(lambda self: self.setup.samples)
    seq_len = property(lambda self: self.setup.seq_len)
    granularity = property(lambda self: self.setup.sequential_targets)
    offload_hessians = property(lambda self: self.setup.offload_hessians)
    cache_on_gpu = property(lambda self: self.setup.cache_on_gpu)

    def gpu_bytes(self, u: CompressionUnit) -> int:
        hessians = u.largest_hessian_bytes if self.offload_hessians else u.hessian_bytes
        cache = self.cache_bytes if self.cache_on_gpu else 0
        return u.weights_bytes + hessians + max(u.quantize_bytes, u.activation_bytes, u.awq_cache_bytes) + cache

    @property
    def gpu_peak_bytes(self) -> int:
        return max((self.gpu_bytes(u) for u in self.units), default=0)

    @property
    def peak_unit(self) -> CompressionUnit:
        return max(self.units, key=self.gpu_bytes)

    @property
    def cpu_peak_bytes(self) -> int:
        hessians = max((u.hessian_bytes for u in self.units), default=0) if self.offload_hessians else 0
        return self.model_bytes + (0 if self.cache_on_gpu else self.cache_bytes) + hessians

    @property
    def hessian_bytes(self) -> int:
        return max((u.hessian_bytes for u in self.units), default=0)


def targeted(unit: Unit) -> list[Linear]:
    out = []
    for t in unit.tensors:
        if not t.quantizable or unit.tower == "vision":
            continue
        fused_experts = t.kind == "expert_linear" and t.name.endswith("gate_up_proj")
        copies = t.experts * (2 if fused_experts else 1)
        out_f = t.out_features // 2 if fused_experts else t.out_features
        out.append(Linear(t.name, t.in_features, out_f, copies))
    return out


def _subgraphs(profile: Profile, granularity: str) -> list[tuple[str, list[int], list[TensorSpec] | None]]:
    """(name, unit indices, tensors or None for whole units) of each subgraph."""
    units = profile.spec.units
    layers = layer_indices(units)
    first = layers[0] if layers else len(units)
    groups: list[tuple[str, list[int], list[TensorSpec] | None]] = []
    if first:
        groups.append(("before the first layer (embeddings, vision tower)", list(range(first)), None))
    for i in layers:
        u = units[i]
        if granularity == "layer":
            groups.append((u.name, [i], None))
            continue
        attn = [t for t in u.tensors if ".mlp." not in t.name and ".experts." not in t.name]
        mlp = [t for t in u.tensors if t not in attn]
        groups.append((f"{u.name} attention", [i], attn))
        groups.append((f"{u.name} mlp", [i], mlp))
    return groups


def compression_cost(profile: Profile, setup: CompressionSetup) -> CompressionCost:
    from dataclasses import replace

    from planner.costs.weights import tensor_bytes

    algorithm, samples, seq_len, granularity = setup.algorithm, setup.samples, setup.seq_len, setup.sequential_targets
    if setup.offload_hessians and algorithm != "sparsegpt":
        raise InputError(f"offload-hessians: in llm-compressor 0.14 only SparseGPTModifier offloads its Hessians "
                         f"({algorithm} keeps them on the GPU); drop the flag or use --algorithm sparsegpt")
    spec = profile.spec
    bits = DTYPE_BITS[profile.dtype]
    d = bits // 8
    w = profile.workload.model_copy(update={"batch": 1, "prompt_tokens": seq_len, "new_tokens": 0, "logits": "last",
                                            "attn_implementation": "sdpa", "images": profile.workload.images})
    out = []
    for name, idx, tensors in _subgraphs(profile, granularity):
        units = [spec.units[i] for i in idx]
        if tensors is None:
            weights = sum(tensor_bytes(t, bits, None, u.tower == "vision") for u in units for t in u.tensors)
            linears = [lin for u in units for lin in targeted(u)]
        else:
            sub = replace(units[0], tensors=tuple(tensors))
            weights = sum(tensor_bytes(t, bits, None) for t in tensors)
            linears = targeted(sub)
        act = max((unit_activation_bytes(u, w, bits, spec.vocab_size) for u in units), default=0)
        hess = lin_h = quant = awq = 0
        if algorithm in ("gptq", "sparsegpt"):
            hess = sum(lin.copies * lin.in_features**2 * HESSIAN_BYTES for lin in linears)
            lin_h = max((lin.in_features**2 * HESSIAN_BYTES for lin in linears), default=0)
        if linears:
            big = max(linears, key=lambda lin: lin.in_features * lin.out_features)
            copy = big.in_features * big.out_features * 4
            quant = {"gptq": 2 * copy + big.in_features**2 * 4, "sparsegpt": 2 * copy + big.in_features**2 * 4,
                     "awq": 2 * copy, "rtn": copy}[algorithm]
            if algorithm == "awq":
                awq = samples * seq_len * max(lin.in_features for lin in linears) * d
        out.append(CompressionUnit(name, weights, hess, quant, act, lin_h, awq))
    cache = 2 * samples * seq_len * spec.hidden_size * d if algorithm != "rtn" else 0
    return CompressionCost(setup, tuple(out), sum(u.weights_bytes for u in profile.units), cache)

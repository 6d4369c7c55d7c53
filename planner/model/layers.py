"""Small constructors for the tensors of common modules, named as PyTorch names them."""

from __future__ import annotations

from planner.model.types import TensorSpec

FLOAT = 32  # float tensors follow the model dtype, capped at their natural fp32 width


def linear(
    name: str, in_f: int, out_f: int, bias: bool = False, quantizable: bool = True, conv1d: bool = False,
    exact: bool = True,
) -> list[TensorSpec]:
    """An nn.Linear (weight [out, in]) or GPT-2's Conv1D (weight [in, out]) and its bias;
    ``exact=False`` for a subclass of nn.Linear, which bitsandbytes leaves alone."""
    shape = (in_f, out_f) if conv1d else (out_f, in_f)
    out = [
        TensorSpec(
            f"{name}.weight", shape, "linear", max_bits=FLOAT, quantizable=quantizable,
            in_features=in_f, out_features=out_f, exact_linear=exact and not conv1d, conv1d=conv1d,
        )
    ]
    if bias:
        out.append(TensorSpec(f"{name}.bias", (out_f,), "bias", max_bits=FLOAT))
    return out


def experts(name: str, count: int, in_f: int, out_f: int) -> TensorSpec:
    """A fused expert weight of shape [experts, out, in] (transformers 5 MoE layout)."""
    return TensorSpec(
        name, (count, out_f, in_f), "expert_linear", max_bits=FLOAT, quantizable=True,
        in_features=in_f, out_features=out_f, experts=count,
    )


def norm(name: str, dim: int, bias: bool = False) -> list[TensorSpec]:
    out = [TensorSpec(f"{name}.weight", (dim,), "norm", max_bits=FLOAT)]
    if bias:
        out.append(TensorSpec(f"{name}.bias", (dim,), "norm", max_bits=FLOAT))
    return out


def embedding(name: str, rows: int, dim: int) -> list[TensorSpec]:
    return [TensorSpec(f"{name}.weight", (rows, dim), "embedding", max_bits=FLOAT)]


def param(name: str, shape: tuple[int, ...], kind: str = "other") -> TensorSpec:
    return TensorSpec(name, shape, kind, max_bits=FLOAT)


def float_buffer(name: str, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec(name, shape, "buffer", max_bits=FLOAT)


def fp32_buffer(name: str, shape: tuple[int, ...]) -> TensorSpec:
    """A buffer created in fp32 explicitly: it stays 4 bytes an element in a bf16/fp16 model."""
    return TensorSpec(name, shape, "buffer", fixed_bits=32)


def int64_buffer(name: str, shape: tuple[int, ...]) -> TensorSpec:
    return TensorSpec(name, shape, "buffer", fixed_bits=64)


def rotary(name: str, rotary_dim: int) -> list[TensorSpec]:
    """Rotary embedding buffers: inv_freq and original_inv_freq, rotary_dim / 2 each, computed in
    fp32 (``.float()``) and left fp32 by ``from_pretrained`` whatever the model dtype."""
    half = rotary_dim // 2
    return [fp32_buffer(f"{name}.inv_freq", (half,)), fp32_buffer(f"{name}.original_inv_freq", (half,))]

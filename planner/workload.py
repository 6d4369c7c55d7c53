"""What the model is asked to do: precision, quantization, batch, context, engine.

A frozen pydantic model: invalid values fail with the field's name, and the same Workload is
used by estimate, plan and sweeps.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from planner.costs.quant import SCHEMES
from planner.units import normalize_dtype

MAX_BATCH = 1_000_000
"""Most concurrent sequences a workload may ask for (serving engines cap theirs at a few thousand);
beyond it the arithmetic and the solvers' integers would grow without a real question behind them."""
MAX_TOKENS = 2**31 - 1
"""Most tokens per sequence (int32 positions, what every engine indexes with)."""


LLAMACPP_ONLY_KV = ("q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
"""Cache types only llama.cpp takes (-ctk/-ctv), beside the dtypes every engine takes."""


class Workload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    mode: Literal["inference", "training", "compression"] = "inference"
    """What runs: inference (forward passes and generate), training, or one-shot compression (llm-compressor)."""
    dtype: str | None = None
    """Storage and compute dtype of unquantized weights: fp32, bf16 or fp16 (default: the checkpoint's)."""
    quant: str | None = "auto"
    """Weight quantization: none, auto (the checkpoint's own quantization_config), or one of the schemes."""
    group_size: int = Field(128, ge=-1, le=1 << 20)
    """Group size of group-wise int4 schemes (int4, gptq, awq); -1 for one group per output row."""
    double_quant: bool = False
    """bitsandbytes 4-bit double quantization of the absmax (QLoRA's setting)."""
    batch: int = Field(1, ge=1, le=MAX_BATCH)
    """Concurrent sequences."""
    prompt_tokens: int = Field(512, ge=1, le=MAX_TOKENS)
    """Tokens in each prompt (the prefill length)."""
    new_tokens: int = Field(0, ge=0, le=MAX_TOKENS)
    """Tokens generated after the prompt; 0 means one plain forward pass."""
    kv_dtype: str | None = None
    """Dtype of the KV cache (default: the compute dtype); fp8 halves it. llama.cpp also takes its cache types (q8_0, q4_0...)."""
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    """Attention kernel: eager materialises batch x heads x seq x seq scores, sdpa/flash do not."""
    logits: Literal["auto", "last", "all"] = "auto"
    """Logits kept by the head: the last position (auto, last: what generate and serving keep, also
    for a prompt-only pass) or all positions (all: a plain forward, as in evaluation or training)."""
    images: int = Field(0, ge=0, le=100_000)
    """Images per sequence fed to a VLM's vision tower (0: text only)."""
    image_patches: int | None = Field(None, ge=1, le=10_000_000)
    """Vision patches per image (default 1024, a 448x448 image at patch 14)."""
    engine: Literal["hf", "vllm", "llamacpp"] = "hf"
    """Whose KV cache layout: transformers (full K/V, even for MLA) or vLLM (MLA latent, 16-token blocks)."""

    @field_validator("dtype", "kv_dtype")
    @classmethod
    def _dtype(cls, value: str | None, info) -> str | None:
        if value is None:
            return None
        if info.field_name == "kv_dtype" and isinstance(value, str) and value.lower() in LLAMACPP_ONLY_KV:
            return value.lower()  # a llama.cpp cache type; other engines refuse it (answers.answer)
        name = normalize_dtype(value, info.field_name)
        if info.field_name == "dtype" and name not in ("fp32", "bf16", "fp16"):
            raise ValueError(f"compute dtype must be fp32, bf16 or fp16 (use quant for {name} weights)")
        if info.field_name == "kv_dtype" and name not in ("fp32", "bf16", "fp16", "fp8"):
            raise ValueError("kv_dtype must be fp32, bf16, fp16 or fp8 (llama.cpp also: q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1)")
        return name

    @field_validator("quant")
    @classmethod
    def _quant(cls, value: str | None) -> str | None:
        if value is None or value in ("none", ""):
            return None
        if value != "auto" and value not in SCHEMES:
            raise ValueError(f"unknown scheme {value!r}; choose none, auto, {', '.join(SCHEMES)}")
        return value

    @field_validator("group_size")
    @classmethod
    def _group(cls, value: int) -> int:
        if value != -1 and value <= 0:
            raise ValueError("group_size must be positive or -1")
        return value

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.new_tokens

    @property
    def logits_positions(self) -> int:
        keep = "all" if self.logits == "all" else "last"
        return 1 if keep == "last" else self.prompt_tokens

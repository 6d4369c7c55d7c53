"""Typed, validated reads from a config.json dict: every error names the field."""

from __future__ import annotations

import math
from typing import Any

from planner.errors import ConfigError

_MISSING = object()
MAX_LAYERS = 4096
"""Most layers a config may ask for (the largest published models have a few hundred): beyond
it a config is refused before anything is built, so a typo cannot make the planner build a
billion modules."""
MAX_SIZE = 2**31 - 1
"""Largest width, vocabulary or count a config may give (int32, what the kernels index with)."""
LAYER_KEYS = frozenset({"num_hidden_layers", "n_layer", "n_layers", "num_layers", "num_decoder_layers",
                        "encoder_layers", "decoder_layers", "depth"})
SIZE_KEYS = frozenset({"hidden_size", "n_embd", "d_model", "intermediate_size", "ffn_dim", "n_inner", "vocab_size",
                       "num_attention_heads", "n_head", "num_key_value_heads", "head_dim", "num_experts",
                       "n_routed_experts", "num_local_experts", "moe_intermediate_size", "max_position_embeddings",
                       "n_positions", "image_size", "patch_size"})


def check_sizes(data: Any, where: str = "config.json", depth: int = 0) -> None:
    """Refuse sizes no real model has, and heads that do not divide into KV groups, in a config
    and every sub-config (text_config, vision_config, ...), before any route reads it."""
    if depth > 8 or not isinstance(data, dict):
        return
    for key, value in data.items():
        if isinstance(value, dict):
            check_sizes(value, f"{where}:{key}", depth + 1)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            limit = MAX_LAYERS if key in LAYER_KEYS else MAX_SIZE if key in SIZE_KEYS else None
            if limit is not None and value > limit:  # also 4.9e9 written as a float
                shown = f"{value:,}" if isinstance(value, int) else f"{value:,.0f}"
                raise ConfigError(f"{where}: field '{key}' is {shown[:40]}, more than any model has (at most {limit:,})")
    heads, kv, hidden = (_count(data.get(k)) for k in ("num_attention_heads", "num_key_value_heads", "hidden_size"))
    if heads and kv and heads % kv:
        raise ConfigError(f"{where}: num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv}); "
                          "each KV head serves a whole group of query heads")
    if heads and hidden and data.get("head_dim") is None and hidden < heads:
        raise ConfigError(f"{where}: hidden_size ({hidden}) is smaller than num_attention_heads ({heads}), so each head "
                          "would have 0 dimensions; give head_dim or fewer heads")
    _check_experts(data, where)
    qc = data.get("quantization_config")
    if qc is not None and not isinstance(qc, dict):
        raise ConfigError(f"{where}: field 'quantization_config' must be an object (as transformers writes it), got "
                          f"{type(qc).__name__}")
    factor = data.get("partial_rotary_factor")
    if (factor is not None and not isinstance(factor, bool) and isinstance(factor, int | float)
            and not 0 < factor <= 1):
        raise ConfigError(f"{where}: field 'partial_rotary_factor' must be in (0, 1] (the share of each head that "
                          f"is rotated), got {factor!r}")


TOP_K_KEYS = ("num_experts_per_tok", "moe_topk", "top_k", "num_experts_per_token")
EXPERT_KEYS = ("num_local_experts", "num_experts", "n_routed_experts")


def _check_experts(data: dict, where: str) -> None:
    """A router that picks no more experts than there are."""
    k_key = next((k for k in TOP_K_KEYS if _count(data.get(k))), None)
    n_key = next((k for k in EXPERT_KEYS if _count(data.get(k))), None)
    if k_key and n_key and data[k_key] > data[n_key]:
        raise ConfigError(f"{where}: {k_key} ({data[k_key]}) routes each token to more experts than {n_key} "
                          f"({data[n_key]}) has")


_FLOAT_TAGS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def decode_special_floats(obj: Any, depth: int = 0) -> Any:
    """A config as transformers reads it back: ``{"__float__": "Infinity"}`` (how its
    ``save_pretrained`` writes the floats JSON has no literal for: NaN, +-Infinity) becomes the
    float; anything else is returned as it is."""
    if depth > 64:
        return obj
    if isinstance(obj, dict):
        if len(obj) == 1 and isinstance(obj.get("__float__"), str) and obj["__float__"] in _FLOAT_TAGS:
            return _FLOAT_TAGS[obj["__float__"]]
        return {k: decode_special_floats(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_special_floats(v, depth + 1) for v in obj]
    return obj


def _count(value: Any) -> int | None:
    """``value`` when it is a positive integer (bools excluded), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


class ConfigView:
    """Read fields of one (sub-)config with the defaults transformers uses for missing keys."""

    def __init__(self, data: dict[str, Any], where: str = "config.json"):
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(data).__name__}")
        self.data = data
        self.where = where

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def raw(self, *keys: str, default: Any = None) -> Any:
        for key in keys:
            if self.data.get(key) is not None:
                return self.data[key]
        return default

    def int(self, *keys: str, default: Any = _MISSING, minimum: int = 1) -> int:
        for key in keys:
            value = self.data.get(key)
            if value is None:
                continue
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or (isinstance(value, float) and not math.isfinite(value)) or int(value) != value):
                raise ConfigError(f"{self.where}: field '{key}' must be an integer, got {value!r}")
            if value < minimum:
                raise ConfigError(f"{self.where}: field '{key}' must be >= {minimum}, got {value!r}")
            limit = MAX_LAYERS if key in LAYER_KEYS else MAX_SIZE
            if value > limit:
                shown = f"{value:,}" if isinstance(value, int) else f"{value:,.0f}"
                raise ConfigError(f"{self.where}: field '{key}' is {shown[:40]}, more than any model has (at most {limit:,})")
            return int(value)
        if default is _MISSING:
            raise ConfigError(f"{self.where}: missing required field '{keys[0]}'")
        return default

    def opt_int(self, *keys: str, minimum: int = 1) -> int | None:
        return self.int(*keys, default=None, minimum=minimum)

    def bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{self.where}: field '{key}' must be true or false, got {value!r}")
        return value

    def float(self, key: str, default: float) -> float:
        value = self.data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise ConfigError(f"{self.where}: field '{key}' must be a finite number, got {value!r}")
        return float(value)

    def int_list(self, key: str) -> list[int] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{self.where}: field '{key}' must be a list of integers, got {value!r}")
        return value

    def str_list(self, key: str) -> list[str] | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{self.where}: field '{key}' must be a list of strings, got {value!r}")
        return value

    def sub(self, key: str, fallback_to_self: bool = False) -> ConfigView:
        value = self.data.get(key)
        if value is None:
            if fallback_to_self:
                return self
            return ConfigView({}, f"{self.where}:{key}")
        if not isinstance(value, dict):
            raise ConfigError(f"{self.where}: field '{key}' must be an object, got {type(value).__name__}")
        return ConfigView(value, f"{self.where}:{key}")


def head_size(width: int, heads: int, what: str = "num_attention_heads") -> int:
    """Each head's share of the width, where a family splits the width evenly (as its attention
    class does: GPT-2 raises on a remainder); a width the heads do not divide is refused."""
    if width % heads:
        raise ConfigError(f"config.json: the width ({width}) is not a multiple of {what} ({heads}), so the heads "
                          "cannot split it evenly; give a number of heads that divides it")
    return width // heads

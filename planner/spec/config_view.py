"""Typed, validated reads from a config.json dict: every error names the field."""

from __future__ import annotations

import math
from typing import Any

from planner.errors import ConfigError

_MISSING = object()


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

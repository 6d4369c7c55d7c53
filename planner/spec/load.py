"""Resolve what the user typed as MODEL (catalog name, config.json, safetensors file or folder)."""

from __future__ import annotations

import json
from pathlib import Path

from planner.catalog import find_model, model_config_path
from planner.errors import ConfigError, InputError, PlannerError
from planner.spec.hf_config import spec_from_config
from planner.spec.safetensors import spec_from_safetensors
from planner.spec.types import ModelSpec


def read_config_json(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"model: file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read ({e})") from None
    if not text.strip():
        raise ConfigError(f"{path}: empty file; expected a Hugging Face config.json")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) - 1 else ""
        raise ConfigError(f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}{hint}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def load_model(model: str) -> ModelSpec:
    """A ModelSpec for a catalog name, a config.json, a .safetensors file or a checkpoint folder."""
    path = Path(model).expanduser()
    if path.is_file():
        if path.suffix == ".safetensors":
            return spec_from_safetensors(path, path.stem)
        return spec_from_config(read_config_json(path), path.parent.name or path.stem, str(path))
    if path.is_dir():
        config = path / "config.json"
        has_weights = any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").is_file()
        config_spec = None
        if config.is_file():
            try:
                config_spec = spec_from_config(read_config_json(config), path.name, str(config))
            except PlannerError:
                if not has_weights:
                    raise
        if has_weights:
            return spec_from_safetensors(path, path.name, config_spec)
        if config_spec is not None:
            return config_spec
        raise InputError(f"model: folder {path} has neither config.json nor .safetensors files")
    looks_like_path = model.endswith((".json", ".safetensors")) or model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_like_path and find_model(model) is None:
        raise InputError(f"model: file not found: {model}")
    cfg_path = model_config_path(model)
    return spec_from_config(json.loads(cfg_path.read_text()), cfg_path.stem, cfg_path.name)

"""Resolve what the user typed as MODEL: a path (config.json, .safetensors file, checkpoint folder),
a bundled catalog name, or a Hugging Face Hub repo id (``org/name[@revision]``, also found
offline in the local HF cache).

A checkpoint folder with a config.json is read through its config, so unit names are the real
module names (a VLM's ``model.language_model.*``, a tied ``lm_head``) whatever the checkpoint's
own tensor names; only a folder without a config falls back to the safetensors headers alone.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from planner.catalog import find_model, hub_ids, model_config_path
from planner.errors import ConfigError, InputError
from planner.files import json_loads, read_text
from planner.model.hf_config import spec_from_config
from planner.model.safetensors import checkpoint_dtype, spec_from_safetensors
from planner.model.types import ModelSpec
from planner.units import size_text

MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_MODEL_ARG = 1024


def read_config_json(path: Path) -> dict:
    text = read_text(path, MAX_CONFIG_BYTES, "model", ConfigError)
    if not text.strip():
        raise ConfigError(f"{path}: empty file; expected a Hugging Face config.json")
    try:
        data = json_loads(text)
    except json.JSONDecodeError as e:
        if "digits" in e.msg:
            raise ConfigError(f"{path}: {e.msg}: not a size any model has") from None
        hint = " (the file looks truncated)" if e.pos >= len(text.rstrip()) - 1 else ""
        raise ConfigError(f"{path}: not valid JSON at line {e.lineno} column {e.colno}: {e.msg}{hint}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nests too deeply to read") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _folder(path: Path) -> ModelSpec:
    config = path / "config.json"
    has_weights = any(path.glob("*.safetensors")) or (path / "model.safetensors.index.json").exists()
    if config.exists() or config.is_symlink():  # a FIFO or a dangling link is refused by the reader, not skipped
        spec = spec_from_config(read_config_json(config), path.name, str(config))
        if spec.dtype_from != "unnamed" or not has_weights:  # the shards are read only for dtype="auto"
            return spec
        return with_checkpoint_dtype(spec, checkpoint_dtype(path))
    if has_weights:
        return spec_from_safetensors(path, path.name)
    raise InputError(f"model: folder {path} has neither config.json nor .safetensors files")


def with_checkpoint_dtype(spec: ModelSpec, dtype: str | None) -> ModelSpec:
    """A config that names no dtype loads at its checkpoint's (``dtype="auto"``)."""
    if spec.dtype_from != "unnamed" or dtype is None:
        return spec
    return replace(spec, default_dtype=dtype, dtype_from="checkpoint")


def catalog_spec(name: str) -> ModelSpec:
    """A catalog model's spec: from its config, or, for a family only the meta route reads when
    transformers is not installed, the spec shipped with the catalog (model/bundled.py)."""
    from planner.model.hf_config import SUPPORTED

    cfg_path = model_config_path(name)
    data = json.loads(cfg_path.read_text())
    if data.get("model_type") not in SUPPORTED and "mm_vision_tower" not in data:
        from planner.model.meta_build import meta_route_available  # imported only for the families it reads

        if not meta_route_available():
            from planner.model.bundled import bundled_spec

            spec = bundled_spec(name)
            if spec is not None:
                return spec
    return spec_from_config(data, cfg_path.stem, cfg_path.name)


def existing_path(model: str) -> Path | None:
    """The path ``model`` names when something is there; a folder on the way that this process may
    not enter is said as such (``Path.exists`` would call it missing)."""
    import os

    try:
        path = Path(model).expanduser()
        os.stat(path)
        return path
    except PermissionError:
        raise InputError(f"model: {model[:200]}: permission denied on a folder of the path; make it readable") from None
    except (RuntimeError, OSError, ValueError):  # missing, ~nouser, a name too long for the file system
        return None


def _not_in_ollama(model: str) -> None:
    """``name:tag`` looks like an Ollama model that is not in the local store: say where it was looked for."""
    from planner.model.gguf.ollama import parse_name, stores

    if ":" in model and parse_name(model) is not None:
        where = " or ".join(str(s) for s in stores())
        raise InputError(f"model: {model!r} is not in the Ollama store at {where}; run `ollama pull {model}` (or set "
                         "OLLAMA_MODELS), or give a .gguf file or a Hub org/name:TAG")


def load_model(model: str, revision: str | None = None) -> ModelSpec:
    """A ModelSpec for a path, a catalog name or a Hub repo id (``revision`` for the last)."""
    from planner.model.hub import looks_like_repo_id, resolve_hub_model, split_revision

    if not isinstance(model, str) or not model.strip():
        raise InputError("model: empty; give a catalog name, a Hub repo id (org/name) or a path")
    if len(model) > MAX_MODEL_ARG:
        raise InputError(f"model: {len(model)} characters; a catalog name, repo id or path is at most {MAX_MODEL_ARG}")
    path = existing_path(model)
    if path is not None and revision is None:
        if path.is_dir():
            return _folder(path)
        if path.suffix == ".safetensors":
            return spec_from_safetensors(path, path.stem)
        return spec_from_config(read_config_json(path), path.parent.name or path.stem, str(path))  # refuses non-files
    name, rev = split_revision(model, revision)
    found = find_model(name)
    if found is not None and rev is None:
        return replace(catalog_spec(found), repo_id=hub_ids().get(found))
    if looks_like_repo_id(model):
        hub = resolve_hub_model(name, rev)
        spec = with_checkpoint_dtype(spec_from_config(hub.config, name.split("/")[-1], f"{name}/config.json"),
                                     hub.auto_dtype)
        notes = spec.notes
        if hub.checkpoint_bytes is not None:
            notes += (f"checkpoint on the Hub: {size_text(hub.checkpoint_bytes)} ({hub.checkpoint_bytes:,} bytes) of safetensors ({', '.join(hub.checkpoint_dtypes)})",)
        return replace(spec, repo_id=name, revision=hub.commit or rev, notes=notes)
    looks_like_path = model.endswith((".json", ".safetensors")) or model.startswith((".", "/", "~")) or model.count("/") > 1
    if looks_like_path:
        raise InputError(f"model: file not found: {model}")
    _not_in_ollama(model)
    model_config_path(model)  # raises the catalog's "did you mean"
    raise InputError(f"model: {model!r} is not a catalog name, a Hub repo id or a path")

"""On-disk cache of meta-built ModelSpecs: building a 400B model on the meta device takes seconds,
reading its spec back takes milliseconds.

The key is the config's content (canonical JSON), the transformers version and this file's
format version, so a new transformers release or a changed config never reuses a stale spec.
The folder is ``$PLANNER_CACHE_DIR``, else ``$XDG_CACHE_HOME/planner/specs``, else
``~/.cache/planner/specs``; ``PLANNER_CACHE_DIR=off`` disables the cache. A file that cannot be
read is rebuilt, and one that cannot be written is skipped: the cache never fails a command.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from planner.errors import PlannerError
from planner.model.types import AttentionSpec, MlpSpec, ModelSpec, TensorSpec, Unit

FORMAT = 8  # bump whenever a ModelSpec field or what the meta route measures changes, so no cached spec is stale


def cache_dir() -> Path | None:
    env = os.environ.get("PLANNER_CACHE_DIR")
    if env:
        return None if env.lower() in ("off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "planner" / "specs"


def cache_key(data: dict[str, Any]) -> str:
    """Content hash of the config, the installed transformers version (read from its metadata, so a
    cache hit imports neither transformers nor torch) and the spec format."""
    from planner.model.library_versions import transformers_version_text

    hf_version = transformers_version_text() or "none"
    forwards = os.environ.get("PLANNER_META_FORWARD", "on").lower()
    text = json.dumps({"config": data, "transformers": hf_version, "format": FORMAT, "forwards": forwards},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def spec_to_json(spec: ModelSpec) -> str:
    return json.dumps(asdict(spec), separators=(",", ":"))


def spec_from_json(text: str) -> ModelSpec:
    d = json.loads(text)
    units = []
    for u in d["units"]:
        tensors = tuple(TensorSpec(**{**t, "shape": tuple(t["shape"])}) for t in u["tensors"])
        attn = AttentionSpec(**u["attention"]) if u["attention"] else None
        mlp = MlpSpec(**u["mlp"]) if u["mlp"] else None
        units.append(Unit(**{**u, "tensors": tensors, "attention": attn, "mlp": mlp}))
    return ModelSpec(**{**d, "units": tuple(units), "no_split_modules": tuple(d["no_split_modules"]),
                        "tied_groups": tuple(tuple(g) for g in d["tied_groups"]), "notes": tuple(d["notes"])})


def cached_spec(data: dict[str, Any], build: Callable[[], ModelSpec], name: str) -> ModelSpec:
    """The spec for ``data`` from the cache, else ``build()`` and store it."""
    folder = cache_dir()
    if folder is None:
        return build()
    path = folder / f"{cache_key(data)}.json"
    try:
        return replace(spec_from_json(path.read_text()), name=name)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    spec = build()
    try:
        from planner.files import write_atomic

        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, spec_to_json(spec))
    except (OSError, PlannerError):  # a cache that cannot be written is skipped, never an error
        pass
    return spec

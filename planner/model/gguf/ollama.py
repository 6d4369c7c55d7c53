"""Models in the local Ollama store, named as ``ollama run`` names them (``llama3.1:70b``,
``namespace/model:tag``, ``host/namespace/model:tag``).

The store (Ollama ``types/model/name.go``, ``server/manifest.go``): ``$OLLAMA_MODELS`` or
``~/.ollama/models`` (the Linux service's ``/usr/share/ollama/.ollama/models`` is looked in too);
``manifests/<host>/<namespace>/<model>/<tag>`` is a JSON manifest whose layer of media type
``application/vnd.ollama.image.model`` names the GGUF blob by digest, stored as
``blobs/sha256-<hex>``. Defaults: host ``registry.ollama.ai``, namespace ``library``, tag ``latest``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from planner.errors import GgufError
from planner.files import json_loads, read_text

MODEL_MEDIA = "application/vnd.ollama.image.model"
PARAMS_MEDIA = "application/vnd.ollama.image.params"
DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG = "registry.ollama.ai", "library", "latest"
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_DIGEST = re.compile(r"^sha256[:-]([0-9a-f]{64})$")
MAX_MANIFEST = 1 << 20


@dataclass(frozen=True)
class OllamaModel:
    name: str
    """host/namespace/model:tag, in full."""
    blob: Path
    params: dict


def stores() -> list[Path]:
    """Where Ollama keeps models: ``OLLAMA_MODELS`` when set, else the user's and the service's store."""
    given = os.environ.get("OLLAMA_MODELS")
    if given:
        return [Path(given).expanduser()]
    return [Path("~/.ollama/models").expanduser(), Path("/usr/share/ollama/.ollama/models")]


def parse_name(name: str) -> tuple[str, str, str, str] | None:
    """(host, namespace, model, tag) of an Ollama name, or None when it is not one."""
    base, sep, tag = name.rpartition(":") if ":" in name.rsplit("/", 1)[-1] else (name, "", DEFAULT_TAG)
    parts = base.split("/")
    if not 1 <= len(parts) <= 3 or not all(_PART.match(p) for p in parts) or not _PART.match(tag or "x"):
        return None
    host = parts[0] if len(parts) == 3 else DEFAULT_HOST
    namespace = parts[-2] if len(parts) >= 2 else DEFAULT_NAMESPACE
    return host, namespace, parts[-1], tag or DEFAULT_TAG


def find_manifest(name: str) -> tuple[Path, Path, str] | None:
    """(store, manifest file, full name) of ``name`` in the first store that has it, or None."""
    parsed = parse_name(name)
    if parsed is None:
        return None
    host, namespace, model, tag = parsed
    for store in stores():
        path = store / "manifests" / host / namespace / model / tag
        try:
            found = path.is_file()
        except OSError:  # a store this user may not read (the Linux service's): not found here
            found = False
        if found:
            return store, path, f"{host}/{namespace}/{model}:{tag}"
    return None


def _blob(store: Path, layer: dict, where: str) -> Path:
    m = _DIGEST.match(str(layer.get("digest", "")))
    if not m:
        raise GgufError(f"{where}: layer digest {str(layer.get('digest'))[:80]!r} is not sha256:<64 hex>")
    for path in (store / "blobs" / f"sha256-{m[1]}", store / "blobs" / f"sha256:{m[1]}"):
        try:
            if path.exists():
                return path
        except OSError:
            raise GgufError(f"{where}: cannot read {store / 'blobs'}; run as a user who may read the Ollama store") from None
    raise GgufError(f"{where}: blob sha256-{m[1][:12]}... is missing from {store / 'blobs'}; run `ollama pull` again")


def read_manifest(store: Path, manifest: Path, full: str) -> OllamaModel:
    """The model blob and run parameters a manifest names."""
    where = str(manifest)
    try:
        data = json_loads(read_text(manifest, MAX_MANIFEST, "model", GgufError))
    except json.JSONDecodeError as e:
        raise GgufError(f"{where}: not a valid Ollama manifest (JSON error at line {e.lineno}: {e.msg})") from None
    layers = data.get("layers") if isinstance(data, dict) else None
    if not isinstance(layers, list) or not all(isinstance(x, dict) for x in layers):
        raise GgufError(f"{where}: an Ollama manifest has a list of layers; this one has none")
    models = [x for x in layers if x.get("mediaType") == MODEL_MEDIA]
    if not models:
        raise GgufError(f"{where}: no layer of type {MODEL_MEDIA}; the manifest names no model")
    params: dict = {}
    for layer in layers:
        if layer.get("mediaType") == PARAMS_MEDIA:
            try:
                loaded = json_loads(read_text(_blob(store, layer, where), MAX_MANIFEST, "model", GgufError))
            except json.JSONDecodeError:
                loaded = {}
            params = loaded if isinstance(loaded, dict) else {}
    return OllamaModel(full, _blob(store, models[0], where), params)


def ollama_model(name: str) -> OllamaModel | None:
    found = find_manifest(name)
    return None if found is None else read_manifest(*found)

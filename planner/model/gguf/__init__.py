"""GGUF models (llama.cpp, Ollama): a header reader of our own and the places a model is found.

``gguf_kind(model)`` says, without reading anything large or going online, whether what the user
typed names a GGUF model; ``load_gguf`` reads it: a ``.gguf`` file or any part of a split set, a
folder of GGUF files, ``org/name:TAG`` on the Hub, or an Ollama ``name:tag`` in the local store.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from planner.errors import InputError

if TYPE_CHECKING:
    from planner.model.gguf.model import GgufModel


def _starts_with_magic(path: Path) -> bool:
    """A regular file whose first bytes are GGUF's magic (an Ollama blob has no suffix)."""
    import os
    import stat

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return False
        with open(path, "rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def gguf_kind(model: str, engine: str | None = None) -> str | None:
    """file | folder | ollama | hub, or None when ``model`` names no GGUF model (``engine``
    "llamacpp": a plain ``org/name`` is a GGUF repo too, read with llama.cpp's default tags)."""
    from planner.model.load import existing_path

    if not isinstance(model, str) or not model.strip():
        return None
    path = existing_path(model)
    if path is not None:
        if path.is_dir():
            from planner.model.gguf.local import model_files

            return "folder" if not (path / "config.json").exists() and model_files(path) else None
        return "file" if path.suffix == ".gguf" or _starts_with_magic(path) else None
    if model.endswith(".gguf"):
        return "file"  # missing: the reader says so
    from planner.model.gguf.ollama import find_manifest

    if find_manifest(model) is not None:
        return "ollama"
    if ":" in model:  # org/name:TAG (the hub reader is imported only for a name that may be one)
        from planner.model.gguf.hub import HF_TAG

        if HF_TAG.match(model):
            return "hub"
    from planner.model.hub import looks_like_repo_id

    if engine == "llamacpp" and looks_like_repo_id(model) and "@" not in model:
        return "hub"
    return None


def load_gguf(model: str, revision: str | None = None, engine: str | None = None) -> GgufModel:
    """The GgufModel ``model`` names (see ``gguf_kind``)."""
    from dataclasses import replace

    from planner.model.gguf.model import model_from_header  # the reader, only once a GGUF model is named

    kind = gguf_kind(model, engine)
    if kind in ("file", "folder"):
        from planner.model.gguf.local import folder_model, read_local

        if revision is not None:
            raise InputError("revision: a local GGUF file has no revision; drop --revision")
        path = Path(model).expanduser()
        if kind == "folder":
            path = folder_model(path)
        header = read_local(path)
        stem = path.name.split("-00001-of-")[0].removesuffix(".gguf")
        return replace(model_from_header(header, model, stem), hf_file=None)
    if kind == "ollama":
        from planner.model.gguf.local import read_local
        from planner.model.gguf.ollama import ollama_model

        found = ollama_model(model)
        header = read_local(found.blob)
        return replace(model_from_header(header, model, found.name), ollama=found.name)
    if kind == "hub":
        from planner.model.gguf.hub import read_hub_gguf

        header, repo, chosen = read_hub_gguf(model, revision)
        tag = model.rpartition(":")[2] if ":" in model else None
        return replace(model_from_header(header, model, Path(chosen).stem), hf_repo=repo, hf_file=chosen, hf_tag=tag)
    raise InputError(f"model: {model[:200]!r} is not a GGUF file, folder, Hub org/name:TAG or Ollama model")

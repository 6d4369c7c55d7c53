"""GGUF files on this machine: one file, a split set (``name-00001-of-00003.gguf``, llama.cpp's
``llama_split_path`` naming), or a folder holding one model's files.

A split set is one model: every part carries ``split.no``/``split.count`` and its own header; the
tensors of all parts are merged, each keeping the part that holds it. Only headers are read.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path

from planner.errors import GgufError
from planner.files import open_regular
from planner.model.gguf.reader import GgufHeader, read_header

SPLIT = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
MMPROJ = re.compile(r"mmproj", re.IGNORECASE)


def read_file_header(path: Path, file_index: int = 0) -> GgufHeader:
    with open_regular(path, "model", GgufError) as (f, size):
        buffered = io.BufferedReader(f, buffer_size=1 << 20)
        header = read_header(buffered.read, str(path), size, file_index)
    return header


def merge_parts(headers: list[GgufHeader], where: str) -> GgufHeader:
    """One header for a split set: the first part's metadata, every part's tensors."""
    first = headers[0]
    count = first.metadata.get("split.count", len(headers))
    if count != len(headers):
        raise GgufError(f"{where}: split.count says {count} parts, {len(headers)} found")
    for i, h in enumerate(headers):
        no = h.metadata.get("split.no", i)
        if no != i:
            raise GgufError(f"{h.files[0]}: split.no is {no}, expected {i} for part {i + 1} of {len(headers)}")
    tensors = tuple(t for h in headers for t in h.tensors)
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise GgufError(f"{where}: a tensor appears in two parts of the split set")
    expected = first.metadata.get("split.tensors.count")
    if isinstance(expected, int) and expected != len(tensors):
        raise GgufError(f"{where}: split.tensors.count says {expected} tensors, the parts hold {len(tensors)}")
    total = sum(h.file_bytes or 0 for h in headers)
    return replace(first, tensors=tensors, file_bytes=total, files=tuple(f for h in headers for f in h.files))


def split_parts(path: Path) -> list[Path] | None:
    """Every part of the split set ``path`` belongs to (checked to exist), or None for a single file."""
    m = SPLIT.match(path.name)
    if not m:
        return None
    count = int(m["count"])
    if not 1 <= count <= 99_999:
        raise GgufError(f"model: {path.name} names a split set of {count} parts")
    parts = [path.with_name(f"{m['prefix']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [p.name for p in parts if not p.exists()]
    if missing:
        raise GgufError(f"model: split set {path.name} lacks {len(missing)} of its {count} parts ({missing[0]}"
                        f"{', ...' if len(missing) > 1 else ''}); download every part into {path.parent}")
    return parts


def read_local(path: Path) -> GgufHeader:
    """The header of the GGUF model at ``path`` (a file or any part of a split set)."""
    parts = split_parts(path)
    if parts is None:
        return read_file_header(path)
    return merge_parts([read_file_header(p, i) for i, p in enumerate(parts)], str(path))


def model_files(folder: Path) -> list[Path]:
    """The first file of each GGUF model in ``folder`` (split sets once, mmproj projectors left out)."""
    firsts = []
    for p in sorted(folder.glob("*.gguf")):
        if MMPROJ.search(p.name):
            continue
        m = SPLIT.match(p.name)
        if m and int(m["no"]) != 1:
            continue
        firsts.append(p)
    return firsts


def folder_model(folder: Path) -> Path:
    """The one GGUF model of ``folder``; several are refused with their names."""
    found = model_files(folder)
    if not found:
        raise GgufError(f"model: folder {folder} has no .gguf model file")
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:4]) + (", ..." if len(found) > 4 else "")
        raise GgufError(f"model: folder {folder} holds {len(found)} GGUF models ({names}); name the file")
    return found[0]

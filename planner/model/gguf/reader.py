"""A GGUF header reader of our own: metadata and tensor infos, never tensor data.

The layout (ggml ``docs/gguf.md``, ``ggml/src/gguf.cpp``): magic ``GGUF``, a little-endian uint32
version (2 or 3), uint64 tensor and key counts, the keys (string, uint32 type, value), the tensor
infos (name, uint32 dims, uint64 extents, uint32 ggml type, uint64 offset into the data section),
then padding to ``general.alignment`` (32 by default) and the data. Everything is read through a
``read(n)`` callable, so a local file and an HTTP range reader share the parser, and a 400 GB file
costs only its header. Hostile headers are refused with one line naming the file: counts and
lengths are bounded before anything is allocated, and every tensor must lie inside the data.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from planner.errors import GgufError
from planner.model.gguf.ggml_types import GGML_TYPES, REMOVED, tensor_bytes

MAGIC = b"GGUF"
MAX_TENSORS = 1 << 20
MAX_KEYS = 1 << 20
MAX_STRING = 1 << 24
MAX_ARRAY = 1 << 26
MAX_KEPT_ARRAY = 1 << 16
"""Numeric arrays longer than this (token scores and types) are skipped, their length kept; the
per-layer arrays llama.cpp reads are one entry per layer."""
MAX_HEADER = 1 << 30
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_ELEMENTS = 1 << 62

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9


@dataclass(frozen=True, slots=True)
class StringList:
    """A metadata array of strings (a tokenizer's tokens, merges), or a long numeric one (token
    scores): only its length is kept."""

    count: int

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True, slots=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    """ggml order: ne0 (the contiguous row) first."""
    type_id: int
    offset: int
    """From the start of the data section."""
    nbytes: int
    file_index: int = 0
    """Which file of a split set holds it (0-based)."""

    @property
    def type_name(self) -> str:
        return GGML_TYPES[self.type_id][0]

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class GgufHeader:
    version: int
    metadata: dict[str, object]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int
    """Bytes before the data section (the header and its padding)."""
    file_bytes: int | None = None
    files: tuple[str, ...] = field(default=())


class _Cursor:
    def __init__(self, read, where: str):
        self._read = read
        self.where = where
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > MAX_HEADER:
            raise GgufError(f"{self.where}: header runs past {MAX_HEADER:,} bytes; not a GGUF file a model would have")
        data = self._read(n)
        if len(data) != n:
            raise GgufError(f"{self.where}: ends inside the header at byte {self.pos + len(data):,} (the file is truncated)")
        self.pos += n
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self, what: str) -> str:
        n = self.unpack("<Q")
        if n > MAX_STRING:
            raise GgufError(f"{self.where}: {what} claims {n:,} bytes at byte {self.pos - 8:,}; the file is corrupt")
        raw = self.take(n)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise GgufError(f"{self.where}: {what} at byte {self.pos - n:,} is not UTF-8") from None

    def value(self, vtype: int, key: str, nested: bool = False):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == STRING:
            return self.string(f"the value of {key!r}")
        if vtype == ARRAY and not nested:
            etype = self.unpack("<I")
            count = self.unpack("<Q")
            if count > MAX_ARRAY:
                raise GgufError(f"{self.where}: array {key!r} claims {count:,} elements; the file is corrupt")
            if etype == STRING:
                for _ in range(count):
                    self.take(self._checked_len(key))
                return StringList(count)
            if etype not in _SCALARS:
                raise GgufError(f"{self.where}: array {key!r} has element type {etype}, which GGUF does not define"
                                + (" inside an array" if etype == ARRAY else ""))
            fmt = _SCALARS[etype]
            size = struct.calcsize(fmt)
            if count > MAX_KEPT_ARRAY:  # a tokenizer's scores or types: only the length matters
                for start in range(0, count, MAX_KEPT_ARRAY):
                    self.take(size * min(MAX_KEPT_ARRAY, count - start))
                return StringList(count)
            return list(struct.unpack(f"<{count}{fmt[1]}", self.take(size * count)))
        raise GgufError(f"{self.where}: key {key!r} has value type {vtype}, which GGUF does not define")

    def _checked_len(self, key: str) -> int:
        n = self.unpack("<Q")
        if n > MAX_STRING:
            raise GgufError(f"{self.where}: a string of array {key!r} claims {n:,} bytes; the file is corrupt")
        return n


def read_header(read, where: str, file_bytes: int | None = None, file_index: int = 0) -> GgufHeader:
    """Parse a GGUF header from ``read(n)`` (bytes from the file's start); ``file_bytes`` the file's
    size when known, to check that every tensor lies inside it."""
    c = _Cursor(read, where)
    magic = c._read(4)
    c.pos = len(magic)
    if magic != MAGIC:
        raise GgufError(f"{where}: not a GGUF file (it starts with {magic[:4]!r}, not b'GGUF')")
    version = c.unpack("<I")
    if version not in (2, 3):
        swapped = struct.unpack(">I", struct.pack("<I", version))[0]
        hint = "; it is a big-endian file, which llama.cpp does not load on this machine" if swapped in (2, 3) else ""
        raise GgufError(f"{where}: GGUF version {version} is not supported (2 and 3 are){hint}")
    n_tensors = c.unpack("<Q")
    n_keys = c.unpack("<Q")
    if n_tensors > MAX_TENSORS or n_keys > MAX_KEYS:
        raise GgufError(f"{where}: claims {n_tensors:,} tensors and {n_keys:,} keys; the header is corrupt")
    meta: dict[str, object] = {}
    for _ in range(n_keys):
        key = c.string("a key")
        vtype = c.unpack("<I")
        if key in meta:
            raise GgufError(f"{where}: key {key!r} appears twice; llama.cpp refuses the file")
        meta[key] = c.value(vtype, key)
    alignment = meta.get("general.alignment", 32)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment <= 0 or alignment & (alignment - 1):
        raise GgufError(f"{where}: general.alignment {alignment!r} is not a power of two")
    raw = []
    for _ in range(n_tensors):
        name = c.string("a tensor name")
        n_dims = c.unpack("<I")
        if not 1 <= n_dims <= MAX_DIMS:
            raise GgufError(f"{where}: tensor {name!r} has {n_dims} dimensions; ggml allows 1 to {MAX_DIMS}")
        shape = tuple(c.unpack("<Q") for _ in range(n_dims))
        tid = c.unpack("<I")
        offset = c.unpack("<Q")
        raw.append((name, shape, tid, offset))
    data_offset = -(-c.pos // alignment) * alignment
    tensors, seen = [], set()
    for name, shape, tid, offset in raw:
        tensors.append(_tensor(where, name, shape, tid, offset, alignment, file_index))
        if name in seen:
            raise GgufError(f"{where}: tensor {name!r} appears twice")
        seen.add(name)
    if file_bytes is not None:
        data = file_bytes - data_offset
        for t in tensors:
            if t.offset + t.nbytes > data:
                raise GgufError(f"{where}: tensor {t.name!r} ends at byte {data_offset + t.offset + t.nbytes:,} of a "
                                f"{file_bytes:,}-byte file (the file is truncated or corrupt)")
    return GgufHeader(version, meta, tuple(tensors), alignment, data_offset, file_bytes, (where,))


def _tensor(where, name, shape, tid, offset, alignment, file_index) -> TensorInfo:
    if tid not in GGML_TYPES:
        why = f"{REMOVED[tid]}, a type llama.cpp no longer loads" if tid in REMOVED else "not a ggml type"
        raise GgufError(f"{where}: tensor {name!r} has type {tid} ({why})")
    n = 1
    for d in shape:
        if d <= 0:
            raise GgufError(f"{where}: tensor {name!r} has an extent of {d}; every extent is at least 1")
        n *= d
        if n > MAX_ELEMENTS:
            raise GgufError(f"{where}: tensor {name!r} claims {shape} elements; the header is corrupt")
    type_name, block, _ = GGML_TYPES[tid]
    if shape[0] % block:
        raise GgufError(f"{where}: tensor {name!r} rows of {shape[0]} values do not fill {type_name} blocks of {block}")
    if offset % alignment:
        raise GgufError(f"{where}: tensor {name!r} starts at offset {offset}, not a multiple of the alignment {alignment}")
    return TensorInfo(name, shape, tid, offset, tensor_bytes(tid, shape), file_index)

"""ModelSpec from safetensors headers alone: exact names, shapes and dtypes, no tensor data read.

Format: 8 bytes little-endian header length N, then N bytes of JSON mapping each tensor name to
{dtype, shape, data_offsets}; ``__metadata__`` is optional. A sharded checkpoint lists its files
in ``model.safetensors.index.json``. Tensors are grouped into units by module name: everything
under the first numbered container (``model.layers.17``) is one unit, any other tensor belongs to
its parent module.
"""

from __future__ import annotations

import json
import re
import struct
from collections import OrderedDict
from math import prod
from pathlib import Path

from planner.errors import SafetensorsError
from planner.files import json_loads, open_regular, read_text
from planner.model.types import ModelSpec, TensorSpec, Unit
from planner.units import SAFETENSORS_BITS

_MAX_HEADER = 256 * 1024 * 1024
_FLOATS = {"F32": "fp32", "F16": "fp16", "BF16": "bf16"}
_ROUTER = re.compile(r"(\.gate|\.router|shared_expert_gate)\.weight$")


def _header_bytes(path: Path) -> tuple[bytes, int]:
    """The JSON header of one file and the length of its data section (the file is opened as
    every input is: a regular file only, without blocking)."""
    with open_regular(path, "safetensors", SafetensorsError) as (f, size):
        head = f.read(8)
        if len(head) < 8:
            raise SafetensorsError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
        (n,) = struct.unpack("<Q", head)
        if n > _MAX_HEADER or 8 + n > size:
            raise SafetensorsError(f"{path}: corrupt header (declares {n} header bytes in a {size}-byte file)")
        return f.read(n), size - 8 - n


def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def read_header(path: Path) -> dict[str, dict]:
    """The tensor table of one .safetensors file, checked as the safetensors library checks it:
    known dtypes, non-negative integer shapes, and data offsets that tile the data section
    exactly (no overlap, no gap, nothing past its end)."""
    raw, data_len = _header_bytes(path)
    try:
        table = json_loads(raw.decode("utf-8").rstrip(" "))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: corrupt header (not valid JSON: {e})") from None
    except RecursionError:
        raise SafetensorsError(f"{path}: corrupt header (nests too deeply)") from None
    if not isinstance(table, dict):
        raise SafetensorsError(f"{path}: corrupt header (expected a JSON object)")
    if len(table) > MAX_TENSORS:
        raise SafetensorsError(f"{path}: {len(table):,} tensors in one header, more than any checkpoint has (at most "
                               f"{MAX_TENSORS:,})")
    out, spans = {}, []
    for name, info in table.items():
        if name == "__metadata__":
            continue
        try:
            dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            raise SafetensorsError(f"{path}: corrupt header entry for {name!r} (needs dtype, shape, data_offsets)") from None
        if not isinstance(dtype, str) or dtype not in SAFETENSORS_BITS:
            raise SafetensorsError(f"{path}: tensor {name!r} has unknown dtype {str(dtype)[:40]!r}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise SafetensorsError(f"{path}: tensor {name!r} has an invalid shape {str(shape)[:60]}")
        nbytes = (prod(shape) * SAFETENSORS_BITS[dtype] + 7) // 8
        if not (_is_count(start) and _is_count(end)) or end - start != nbytes or end > data_len:
            raise SafetensorsError(f"{path}: corrupt header: tensor {name!r} offsets {start}..{end} do not hold {nbytes} bytes of {dtype}{shape}")
        out[name] = {"dtype": dtype, "shape": tuple(shape)}
        spans.append((start, end, name))
    reached = 0
    for start, end, name in sorted(spans):
        if start != reached:
            what = "overlaps the tensor before it" if start < reached else f"leaves bytes {reached}..{start} unused"
            raise SafetensorsError(f"{path}: corrupt header: tensor {name!r} at {start}..{end} {what}")
        reached = end
    if reached != data_len:
        raise SafetensorsError(f"{path}: corrupt header: tensors end at byte {reached} of a {data_len}-byte data section")
    return out


MAX_INDEX_BYTES = 64 * 1024 * 1024
MAX_TENSORS = 300_000
"""Most tensors a header or an index may list (DeepSeek-V3 has about 91,000 in all)."""


def _shard_path(folder: Path, index: Path, name) -> Path:
    """A shard named by the index, which must be a file name inside the checkpoint folder (links
    inside it are followed: the Hugging Face cache links snapshot files to its blob store)."""
    import os

    if not isinstance(name, str) or not name:
        raise SafetensorsError(f"{index}: weight_map values must be shard file names, got {str(name)[:40]!r}")
    parts = Path(name).parts
    if Path(name).is_absolute() or ".." in parts or "\\" in name or "\x00" in name:
        raise SafetensorsError(f"{index}: shard {name[:80]!r} is outside the checkpoint folder; "
                               "an index names files in its own folder")
    return folder / os.path.normpath(name)


def checkpoint_files(folder: Path) -> tuple[list[Path], dict[str, Path] | None]:
    """The shards of a checkpoint folder, and the index's map of tensor name -> shard (None
    without an index)."""
    index = folder / "model.safetensors.index.json"
    if index.exists() or index.is_symlink():
        text = read_text(index, MAX_INDEX_BYTES, "index", SafetensorsError)
        try:
            weight_map = json_loads(text)["weight_map"]
            items = weight_map.items()
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            raise SafetensorsError(f"{index}: not a valid index (needs a weight_map object)") from None
        except RecursionError:
            raise SafetensorsError(f"{index}: not a valid index (nests too deeply)") from None
        if len(weight_map) > MAX_TENSORS:
            raise SafetensorsError(f"{index}: {len(weight_map):,} entries, more than any checkpoint has (at most "
                                   f"{MAX_TENSORS:,} tensors)")
        shards: dict[str, Path] = {}  # each shard name is checked once, not once per tensor

        def shard_of(name) -> Path:
            if not isinstance(name, str) or name not in shards:
                path = _shard_path(folder, index, name)
                if isinstance(name, str):
                    shards[name] = path
                return path
            return shards[name]

        where = {tensor: shard_of(shard) for tensor, shard in items}
        if not where:
            raise SafetensorsError(f"{index}: the weight_map lists no tensors")
        files = sorted(set(where.values()))
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise SafetensorsError(f"{index}: lists {len(missing)} missing shard(s), first {missing[0].name!r}")
        return files, where
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise SafetensorsError(f"{folder}: no .safetensors files and no model.safetensors.index.json")
    return files, None


def auto_dtype(first_file: dict[str, str]) -> str | None:
    """What ``from_pretrained(dtype="auto")`` takes when the config names no dtype: the dtype of
    the first floating tensor (by name, as safetensors lists them; fp8/fp4 skipped, since torch
    cannot build a model in those) of the first checkpoint file, given as {name: safetensors
    dtype}. None when that is not a width the planner sizes weights at (F64)."""
    for name in sorted(first_file):
        dtype = first_file[name]
        if dtype in _FLOATS or dtype == "F64":
            return _FLOATS.get(dtype)
    return None


def checkpoint_dtype(path: Path) -> str | None:
    """``auto_dtype`` of a checkpoint folder or file."""
    files, _ = ([path], None) if not path.is_dir() else checkpoint_files(path)
    return auto_dtype({name: info["dtype"] for name, info in read_header(files[0]).items()})


def read_checkpoint(path: Path) -> dict[str, dict]:
    """Every tensor of a file or checkpoint folder; a tensor in two shards, or one the index
    places in a shard that does not hold it, is refused (loaders would pick one silently)."""
    files, where = ([path], None) if not path.is_dir() else checkpoint_files(path)
    tensors: dict[str, dict] = {}
    home: dict[str, Path] = {}
    for f in files:
        for name, info in read_header(f).items():
            if name in home:
                raise SafetensorsError(f"{path}: tensor {name!r} is in two shards, {home[name].name} and {f.name}")
            tensors[name], home[name] = info, f
    if where is not None:
        for name, shard in where.items():
            if home.get(name) != shard:
                found = f"is in {home[name].name}" if name in home else "is in no shard"
                raise SafetensorsError(f"{path}: the index puts {name!r} in {shard.name}, but it {found}")
    return tensors


def unit_of(name: str) -> str:
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part.isdigit() and i > 0:
            return ".".join(parts[: i + 1])
    return ".".join(parts[:-1]) if len(parts) > 1 else name


def _order_key(unit: str, first_seen: int) -> tuple:
    low = unit.lower()
    index = next((int(p) for p in unit.split(".") if p.isdigit()), -1)
    vision = any(k in low for k in ("vision", "visual", "multi_modal_projector", "image_newline", "mm_projector"))
    if vision:
        sub = 0 if "embed" in low or "patch" in low else (1 if index >= 0 else 2)
        return (0, sub, index, first_seen)
    if low.endswith("lm_head") or low in ("output", "embed_out"):
        return (4, 0, 0, first_seen)
    if index >= 0:
        return (2, 0, index, first_seen)
    if "embed" in low or low.endswith((".wte", ".wpe", "word_embeddings")) or "rotary" in low:
        return (1, 0, 0, first_seen)
    return (3, 0, 0, first_seen)


def _kind(unit: str) -> str:
    low = unit.lower()
    index = any(p.isdigit() for p in unit.split("."))
    if any(k in low for k in ("vision", "visual")):
        return "vision_block" if index else "vision"
    if index:
        return "decoder_layer"
    if low.endswith("lm_head"):
        return "head"
    return "embedding" if "embed" in low or low.endswith((".wte", ".wpe")) else "other"


def _tensor(name: str, dtype: str, shape: tuple[int, ...], in_layer: bool) -> TensorSpec:
    bits = SAFETENSORS_BITS[dtype]
    if dtype not in _FLOATS:
        return TensorSpec(name, shape, "other", fixed_bits=bits)
    linear = in_layer and len(shape) == 2 and name.endswith(".weight") and not _ROUTER.search(name) and "norm" not in name
    if linear:
        return TensorSpec(name, shape, "linear", max_bits=32, quantizable=True, in_features=shape[1], out_features=shape[0])
    kind = "norm" if "norm" in name else ("bias" if name.endswith(".bias") else "other")
    return TensorSpec(name, shape, kind, max_bits=32)


def spec_from_safetensors(path: Path, name: str, config_spec: ModelSpec | None = None) -> ModelSpec:
    """Units from the headers; attention/MLP shapes from ``config_spec`` when a config.json sits beside them."""
    tensors = read_checkpoint(path)
    if not tensors:
        raise SafetensorsError(f"{path}: the checkpoint holds no tensors")
    groups: OrderedDict[str, list[TensorSpec]] = OrderedDict()
    float_bits: dict[str, int] = {}
    for tname in sorted(tensors):
        info = tensors[tname]
        unit = unit_of(tname)
        in_layer = any(p.isdigit() for p in unit.split("."))
        groups.setdefault(unit, []).append(_tensor(tname, info["dtype"], info["shape"], in_layer))
        if info["dtype"] in _FLOATS:
            float_bits[info["dtype"]] = float_bits.get(info["dtype"], 0) + prod(info["shape"])
    order = {u: i for i, u in enumerate(groups)}
    by_layer = {}
    if config_spec is not None:
        by_layer = {(u.tower, u.layer_index): u for u in config_spec.units if u.layer_index is not None}
    units = []
    for uname in sorted(groups, key=lambda u: _order_key(u, order[u])):
        kind = _kind(uname)
        idx = next((int(p) for p in uname.split(".") if p.isdigit()), None)
        tower = "vision" if kind.startswith("vision") else "text"
        ref = by_layer.get((tower, idx))
        hidden = ref.hidden_size if ref else (config_spec.hidden_size if config_spec else 0)
        units.append(Unit(uname, kind, tuple(groups[uname]), ref.block_class if ref else "", hidden, tower,
                          ref.attention if ref else None, ref.mlp if ref else None, idx))
    dominant = max(float_bits, key=float_bits.get) if float_bits else "BF16"
    notes = () if config_spec else ("no config.json beside the checkpoint: KV cache and activations are not estimated",)
    return ModelSpec(
        name=name, model_type=config_spec.model_type if config_spec else "safetensors",
        architecture=config_spec.architecture if config_spec else "", units=tuple(units),
        no_split_modules=config_spec.no_split_modules if config_spec else (), default_dtype=_FLOATS[dominant],
        vocab_size=config_spec.vocab_size if config_spec else 0, hidden_size=config_spec.hidden_size if config_spec else 0,
        source="safetensors", quantization_config=config_spec.quantization_config if config_spec else None, notes=notes,
    )

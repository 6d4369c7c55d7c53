"""What llama.cpp places, read from a GGUF header: its tensors grouped the way llama.cpp assigns
them to devices (the input layer, ``blk.N`` layers, the output layer) and the hyperparameters its
KV cache and compute buffers depend on.

llama.cpp's layer of a tensor is its name: ``blk.N.*`` is layer N, ``token_embd``/``token_types``/
``position_embd`` form the input layer (always on the CPU), ``output*`` the output layer (offloaded
first). A model whose file has no ``output.weight`` reads the embedding again on the output layer's
device (``TENSOR_DUPLICATED``): a second copy where that device is a GPU.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from planner.errors import GgufError
from planner.model.gguf.reader import GgufHeader, StringList, TensorInfo

_BLOCK = re.compile(r"^blk\.(\d+)\.")
EXPERT_TENSOR = re.compile(r"\.ffn_(up|down|gate|gate_up)_(ch|)exps")
"""The routed-expert tensors ``--cpu-moe`` moves (common.h ``LLM_FFN_EXPS_REGEX``)."""
OUTPUT_NAMES = ("output.", "output_norm.", "cls.", "cls_out.")


@dataclass(frozen=True)
class Layer:
    index: int
    tensors: tuple[TensorInfo, ...]

    @property
    def nbytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)

    @property
    def expert_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors if EXPERT_TENSOR.search(t.name))


@dataclass(frozen=True)
class GgufModel:
    """A GGUF model as llama.cpp sees it before it allocates anything."""

    name: str
    """general.name, or the file's stem."""
    source: str
    """What the user named (a path, ``org/repo:TAG``, an Ollama ``name:tag``)."""
    files: tuple[str, ...]
    file_bytes: int
    """Bytes on disk of every file of the set (headers, padding and data)."""
    arch: str
    metadata: dict
    input_tensors: tuple[TensorInfo, ...]
    layers: tuple[Layer, ...]
    output_tensors: tuple[TensorInfo, ...]
    output_tied: bool
    """No ``output.weight``: the output layer reads ``token_embd.weight``."""
    hf_repo: str | None = None
    hf_file: str | None = None
    hf_tag: str | None = None
    """The tag as the user typed it (``org/name:TAG``), for llama.cpp's ``-hf``; None: its default tags."""
    ollama: str | None = None

    def key(self, name: str, default=None):
        """``{arch}.{name}`` from the metadata, unchecked (for presence tests)."""
        return self.metadata.get(f"{self.arch}.{name}", default)

    def uint(self, name: str, default: int | None = 0) -> int:
        """``{arch}.{name}`` as a count llama.cpp reads (a non-negative integer); anything else is
        refused with the file and the key named, as llama.cpp refuses it."""
        value = self.key(name, default)
        if value is None or isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 1 << 40:
            raise GgufError(f"{self.files[0] if self.files else self.source}: {self.arch}.{name} is {_shown(value)}; "
                            "expected a non-negative integer")
        return value

    def per_layer(self, name: str, default: int) -> list[int]:
        """``{arch}.{name}`` for every layer: one count, or an array of one per layer (llama.cpp's
        ``get_key_or_arr``: an array must have block_count entries)."""
        value = self.key(name, default)
        where = self.files[0] if self.files else self.source
        if isinstance(value, list):
            if len(value) != self.n_layer or any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
                raise GgufError(f"{where}: {self.arch}.{name} has {len(value)} entries; expected {self.n_layer} "
                                "non-negative integers, one per layer")
            return [int(v) for v in value]
        return [self.uint(name, default)] * self.n_layer

    @property
    def n_layer(self) -> int:
        return len(self.layers)

    @property
    def tensors(self) -> tuple[TensorInfo, ...]:
        return self.input_tensors + tuple(t for layer in self.layers for t in layer.tensors) + self.output_tensors

    @property
    def tensor_bytes(self) -> int:
        """Sum of every tensor's bytes: what ``llama_model_size`` reports."""
        return sum(t.nbytes for t in self.tensors)

    @property
    def parameters(self) -> int:
        """Elements of every tensor: ``llama_model_n_params``."""
        return sum(t.numel for t in self.tensors)

    @property
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.input_tensors)

    @property
    def embedding(self) -> TensorInfo | None:
        return next((t for t in self.input_tensors if t.name == "token_embd.weight"), None)

    @property
    def output_bytes(self) -> int:
        """The output layer's bytes on its device, the embedding's copy included when tied."""
        tied = self.embedding.nbytes if self.output_tied and self.embedding is not None else 0
        return sum(t.nbytes for t in self.output_tensors) + tied

    @property
    def vocab_size(self) -> int:
        tokens = self.metadata.get("tokenizer.ggml.tokens")
        if isinstance(tokens, StringList | list):
            return len(tokens)
        emb = self.embedding
        return self.uint("vocab_size", emb.shape[1] if emb is not None and len(emb.shape) > 1 else 0)

    @property
    def quant_label(self) -> str:
        """The file's main type, as llama.cpp prints ``file type`` (general.file_type), else the
        type holding most bytes."""
        from planner.model.gguf.file_types import file_type_name

        name = file_type_name(self.metadata.get("general.file_type"))
        if name:
            return name
        weights: dict[str, int] = {}
        for t in self.tensors:
            weights[t.type_name] = weights.get(t.type_name, 0) + t.nbytes
        return max(weights, key=weights.get) if weights else "?"


def _shown(value) -> str:
    text = repr(value) if not isinstance(value, StringList) else f"an array of {len(value)} strings"
    return text if len(text) <= 60 else text[:57] + "..."


def _int(meta: dict, key: str, where: str, default=None):
    value = meta.get(key, default)
    if value is None:
        raise GgufError(f"{where}: metadata key {key!r} is missing; llama.cpp cannot load the file")
    if isinstance(value, bool) or not isinstance(value, int):
        raise GgufError(f"{where}: metadata key {key!r} is {value!r}; expected an integer")
    return value


def model_from_header(header: GgufHeader, source: str, name_hint: str) -> GgufModel:
    """Group a merged header's tensors into llama.cpp's layers and check the layer count."""
    meta = header.metadata
    where = header.files[0] if header.files else source
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise GgufError(f"{where}: general.architecture is missing; not a model file llama.cpp loads"
                        + (" (an mmproj file is a vision projector, give the model file)" if "clip.has_vision_encoder" in meta
                           or any(k.startswith("clip.") for k in meta) else ""))
    n_layer = _int(meta, f"{arch}.block_count", where)
    if not 0 < n_layer <= 100_000:
        raise GgufError(f"{where}: {arch}.block_count is {n_layer}; expected 1 to 100,000")
    inputs, outputs, per_layer = [], [], [[] for _ in range(n_layer)]
    for t in header.tensors:
        m = _BLOCK.match(t.name)
        if m:
            i = int(m[1])
            if i >= n_layer:
                raise GgufError(f"{where}: tensor {t.name!r} is past {arch}.block_count = {n_layer}")
            per_layer[i].append(t)
        elif t.name.startswith(OUTPUT_NAMES):
            outputs.append(t)
        else:
            inputs.append(t)
    tied = not any(t.name == "output.weight" for t in outputs)
    name = meta.get("general.name")
    return GgufModel(
        name=name if isinstance(name, str) and name.strip() else name_hint, source=source, files=header.files,
        file_bytes=header.file_bytes or 0, arch=arch, metadata=meta, input_tensors=tuple(inputs),
        layers=tuple(Layer(i, tuple(ts)) for i, ts in enumerate(per_layer)), output_tensors=tuple(outputs),
        output_tied=tied)

"""Any architecture transformers ships: build it on the meta device and read its module tree.

The model is built as ``from_pretrained`` builds it (``from_config`` under the target dtype on
the meta device, so no storage is allocated), then every tensor is read where it really lives:
- units are accelerate's: walking from the root, a module is one unit when its class is in the
  model's ``_no_split_modules`` or it has no children; a split module's direct parameters are
  units of their own, before its children (the order ``infer_auto_device_map`` walks);
- each tensor keeps the dtype it has in memory: float tensors built in the model dtype follow
  it, float tensors that stay fp32 (rotary ``inv_freq``, routers listed in
  ``_keep_in_fp32_modules_strict``, buffers created with an explicit fp32 dtype) cost 4 bytes,
  integer buffers their own width; non-persistent buffers are counted too;
- a tensor shared by several modules (tied embeddings) is owned by the first module that
  registers it; the others hold it as ``tied_to`` and their units share a device.
KV cache and activation shapes come from the attention modules and the (text) config, then two
meta-device forwards measure what transformers' cache really holds per layer (meta_cache.py) and,
for families without hand-written constants, each layer's activation peak (meta_activations.py).
``PLANNER_META_FORWARD=off`` skips those forwards (the spec then says so in its notes).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from planner.errors import ConfigError
from planner.model.meta_layers import (
    attention_for_layer,
    block_hidden,
    block_mlp,
    mlp_for_layer,
    text_dims,
    vision_attention,
    vision_width,
)
from planner.model.meta_measure import measured_units, quiet_library
from planner.model.types import ModelSpec, TensorSpec, Unit

HF_EXTRA_HINT = "pip install 'planner[hf]' (transformers, accelerate, torch)"


def meta_route_available() -> bool:
    """Whether transformers and torch can be imported (the ``hf`` extra), without importing them."""
    from importlib.util import find_spec

    return find_spec("transformers") is not None and find_spec("torch") is not None


def _imports():
    try:
        import torch
        import transformers
    except ImportError:
        raise ConfigError(f"this architecture needs transformers to be read from its config: {HF_EXTRA_HINT}") from None
    return torch, transformers


def _auto_class(transformers, hf_config, data: dict):
    """The Auto class that builds this config with its generation head (causal LM, VLM, ...)."""
    from transformers.models.auto import modeling_auto as ma

    archs = data.get("architectures")
    if isinstance(archs, list) and archs and isinstance(archs[0], str) and hasattr(transformers, archs[0]):
        return getattr(transformers, archs[0])
    mt = hf_config.model_type
    for mapping, auto in (
        (ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, transformers.AutoModelForCausalLM),
        (ma.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES, transformers.AutoModelForImageTextToText),
        (ma.MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES if hasattr(ma, "MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES") else {},
         getattr(transformers, "AutoModelForMultimodalLM", None)),
        (ma.MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES, transformers.AutoModelForSeq2SeqLM),
    ):
        if auto is not None and mt in mapping:
            return auto
    return transformers.AutoModel


def hf_config_from_dict(data: dict[str, Any], where: str):
    """transformers' config object for a config.json dict (quantization is applied by the planner)."""
    _, transformers = _imports()
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    cfg = {k: v for k, v in data.items() if not k.startswith("_") and k != "quantization_config"}
    model_type = cfg.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ConfigError(f"{where}: model_type {model_type!r} is not an architecture transformers "
                          f"{transformers.__version__} knows; upgrade transformers or check the config")
    try:
        return CONFIG_MAPPING[model_type].from_dict(cfg)
    except Exception as e:  # noqa: BLE001 - config classes validate with ValueError, TypeError, their own errors
        lines = " ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
        raise ConfigError(f"{where}: transformers {transformers.__version__} cannot read this config "
                          f"({lines[:300]})") from None


def build_meta_model(data: dict[str, Any], where: str = "config.json", dtype: str = "bf16"):
    """The model exactly as ``from_pretrained(dtype=...)`` instantiates it, with no storage."""
    torch, transformers = _imports()
    hf_config = hf_config_from_dict(data, where)
    torch_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype]
    cls = _auto_class(transformers, hf_config, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.device("meta"):
                model = cls.from_config(hf_config, dtype=torch_dtype) if cls.__name__.startswith("Auto") else \
                    cls._from_config(hf_config, dtype=torch_dtype)
        except Exception as e:  # noqa: BLE001 - any failure inside a model's __init__ is the config's fault here
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise ConfigError(f"{where}: transformers {transformers.__version__} cannot build "
                              f"{hf_config.model_type!r} from this config ({type(e).__name__}: {first})") from None
    _apply_dtype_plan(model, torch_dtype)
    return model, hf_config


def _apply_dtype_plan(model, torch_dtype) -> None:
    """Upcast what ``from_pretrained`` keeps in fp32 (``_keep_in_fp32_modules[_strict]``) on meta."""
    import torch
    from transformers.core_model_loading import build_glob_alternation

    plan = model._get_dtype_plan(torch_dtype) if hasattr(model, "_get_dtype_plan") else {}
    if not plan:
        return
    alternation, _, _ = build_glob_alternation(list(plan))
    for name, param in model.named_parameters():
        if alternation.search(name) and param.dtype != torch.float32:
            param.data = param.data.to(torch.float32)
    for mname, module in model.named_modules():
        for bname, buf in list(module._buffers.items()):
            full = f"{mname}.{bname}" if mname else bname
            if buf is not None and buf.is_floating_point() and buf.dtype != torch.float32 and alternation.search(full):
                module._buffers[bname] = buf.to(torch.float32)


def _bits(t) -> int:
    """Bits per element as torch stores it (a bool is a byte)."""
    return t.element_size() * 8


def _walk(model, no_split: set[str]) -> list[tuple[str, Any, bool]]:
    """(name, module or tensor, is_tensor) units in accelerate's order.

    A module is one unit when its class is no-split, when it has no children, or when nothing
    below it is no-split (a projector's Linears stay together, as the hand-written families
    keep them); a module with no tensors at all (dropout) is no unit."""
    out: list[tuple[str, Any, bool]] = []

    def visit(prefix: str, module, top: bool) -> None:
        children = list(module.named_children())
        whole = type(module).__name__ in no_split or not children or (
            bool(no_split) and not any(type(x).__name__ in no_split for x in module.modules()))
        if not top and whole:
            if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
                out.append((prefix, module, False))
            return
        dot = f"{prefix}." if prefix else ""
        for n, p in module.named_parameters(recurse=False):
            out.append((f"{dot}{n}", p, True))
        for n, child in children:
            visit(f"{dot}{n}", child, False)
        for n, b in module.named_buffers(recurse=False):
            out.append((f"{dot}{n}", b, True))

    visit("", model, True)
    return out


def _decoder_prefix(model) -> str | None:
    try:
        dec = model.get_decoder()
    except (AttributeError, NotImplementedError, ValueError):
        return None
    if dec is None or dec is model:
        return None
    return next((n for n, m in model.named_modules() if m is dec), None)


def _layer_index(name: str) -> int | None:
    last = name.rsplit(".", 1)[-1]
    return int(last) if last.isdigit() else None


_ROUTER_NAMES = ("gate", "router", "shared_expert_gate", "gate_proj_router")


class _Reader:
    """Turns the meta model's tensors into TensorSpecs (one instance per build)."""

    def __init__(self, torch, model, float_dtype):
        self.torch = torch
        self.float_dtype = float_dtype
        self.owner: dict[int, str] = {}
        for n, t in list(model.named_parameters(remove_duplicate=False)) + list(model.named_buffers(remove_duplicate=False)):
            self.owner.setdefault(id(t), n)
        self.module_of = {}
        for mname, m in model.named_modules(remove_duplicate=False):
            for pn, _ in m.named_parameters(recurse=False):
                self.module_of[f"{mname}.{pn}" if mname else pn] = m
        self.buffer_names = {n for n, _ in model.named_buffers(remove_duplicate=False)}

    def tensor(self, name: str, t, in_layer: bool) -> TensorSpec:
        torch = self.torch
        owner = self.owner.get(id(t), name)
        tied = owner if owner != name else None
        shape = tuple(int(d) for d in t.shape)
        is_buffer = name in self.buffer_names
        if not t.is_floating_point():
            return TensorSpec(name, shape, "buffer" if is_buffer else "other", fixed_bits=_bits(t), tied_to=tied)
        fixed = 32 if t.dtype == torch.float32 and self.float_dtype != torch.float32 else None
        if fixed is None and t.dtype != self.float_dtype:
            fixed = _bits(t)
        if is_buffer:
            return TensorSpec(name, shape, "buffer", fixed_bits=fixed, max_bits=32, tied_to=tied)
        module = self.module_of.get(name)
        leaf = name.rsplit(".", 1)[-1]
        mname = name.rsplit(".", 2)[-2] if name.count(".") >= 1 else ""
        if isinstance(module, torch.nn.Embedding):
            kind = "embedding"
        elif isinstance(module, torch.nn.Linear) and leaf == "weight":
            router = mname in _ROUTER_NAMES or shape[0] == 1
            return TensorSpec(name, shape, "linear", fixed_bits=fixed, max_bits=32, quantizable=in_layer and not router,
                              in_features=shape[1], out_features=shape[0], tied_to=tied,
                              exact_linear=type(module) is torch.nn.Linear)
        elif type(module).__name__ == "Conv1D" and leaf == "weight":  # GPT-2's transposed Linear, which bnb also replaces
            return TensorSpec(name, shape, "linear", fixed_bits=fixed, max_bits=32, quantizable=in_layer,
                              in_features=shape[0], out_features=shape[1], tied_to=tied, conv1d=True)
        elif len(shape) == 3 and "expert" in name and leaf != "bias":
            return TensorSpec(name, shape, "expert_linear", fixed_bits=fixed, max_bits=32, quantizable=in_layer,
                              in_features=shape[2], out_features=shape[1], experts=shape[0], tied_to=tied)
        elif "norm" in name.lower() or "Norm" in type(module).__name__:
            kind = "norm"
        elif leaf == "bias":
            kind = "bias"
        else:
            kind = "other"
        return TensorSpec(name, shape, kind, fixed_bits=fixed, max_bits=32, tied_to=tied)


def _unit_kind(name: str, obj, is_tensor: bool, tower: str, indexed: bool, head_name: str, torch) -> str:
    if name == head_name:
        return "head"
    if is_tensor:
        return "other"
    cls = type(obj).__name__
    if "Rotary" in cls:
        return "rotary"
    if tower == "vision":
        if indexed:
            return "vision_block"
        return "projector" if any(k in name for k in ("projector", "merger", "connector", "mm_proj")) else "vision"
    if indexed:
        return "decoder_layer"
    if isinstance(obj, torch.nn.Embedding) or "Embedding" in cls:
        return "embedding"
    if "Norm" in cls:
        return "norm"
    return "other"


def _unit(uname: str, obj, is_tensor: bool, ctx: dict) -> Unit:
    """One placement unit with its tensors, and the shapes its KV and activation costs need."""
    torch, text, no_split = ctx["torch"], ctx["text"], ctx["no_split"]
    multimodal, decoder, head_name = ctx["multimodal"], ctx["decoder"], ctx["head_name"]
    in_text = not multimodal or uname in (head_name, decoder) or uname.startswith(decoder + ".")
    tower = "text" if in_text else "vision"
    block = not is_tensor and type(obj).__name__ in no_split
    index = _layer_index(uname) if block else None
    kind = _unit_kind(uname, obj, is_tensor, tower, index is not None, head_name, torch)
    if is_tensor:
        items = [(uname, obj)]
    else:
        items = [(f"{uname}.{n}", t) for n, t in
                 list(obj.named_parameters(remove_duplicate=False)) + list(obj.named_buffers(remove_duplicate=False))]
    tensors = tuple(ctx["reader"].tensor(n, t, kind in ("decoder_layer", "vision_block")) for n, t in items)
    hidden = ctx["hidden"] if tower == "text" or kind in ("projector", "other") else ctx["vision_hidden"]
    if kind == "head" and isinstance(getattr(obj, "in_features", None), int):
        hidden = obj.in_features  # OPT projects to word_embed_proj_dim before its head
    attention = mlp = None
    if kind == "decoder_layer":
        attention, mlp = attention_for_layer(text, index, obj), mlp_for_layer(text, index, obj)
    elif kind == "vision_block":
        hidden = block_hidden(obj, hidden)
        attention, mlp = vision_attention(obj), block_mlp(obj, hidden)
    layer = index if kind in ("decoder_layer", "vision_block") else None
    family = text.model_type if kind == "decoder_layer" else ""
    return Unit(uname, kind, tensors, type(obj).__name__ if block else "", hidden, tower, attention, mlp, layer, family)


def spec_from_module(model, hf_config, data: dict, name: str, float_dtype) -> ModelSpec:
    """The ModelSpec of a model built on the meta device (see the module docstring)."""
    import torch

    no_split = set(getattr(model, "_no_split_modules", None) or ())
    text = hf_config.get_text_config(decoder=True) if hasattr(hf_config, "get_text_config") else hf_config
    vocab, hidden = text_dims(text)
    vision_cfg = getattr(hf_config, "vision_config", None)
    vision_hidden = vision_width(vision_cfg) if vision_cfg is not None else 0
    decoder = _decoder_prefix(model)
    multimodal = decoder is not None and any(getattr(hf_config, k, None) is not None for k in ("vision_config", "audio_config"))
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    head_name = next((n for n, m in model.named_modules() if m is out_emb), "") if out_emb is not None else ""
    ctx = dict(torch=torch, text=text, no_split=no_split, multimodal=multimodal, decoder=decoder or "", head_name=head_name,
               reader=_Reader(torch, model, float_dtype), hidden=hidden, vision_hidden=vision_hidden or hidden)
    units = [_unit(uname, obj, is_tensor, ctx) for uname, obj, is_tensor in _walk(model, no_split)]
    forwards = os.environ.get("PLANNER_META_FORWARD", "on").lower() not in ("off", "0", "no")
    notes = ["built by transformers on the meta device"]
    if forwards:
        units, more = measured_units(model, hf_config, text, units, float_dtype)
        notes += more
    from planner.model.hf_config import fixed_resolution_patches

    vision_cfg = data.get("vision_config") if isinstance(data.get("vision_config"), dict) else {}
    merge = vision_cfg.get("spatial_merge_size", 1)
    merge = merge if isinstance(merge, int) and not isinstance(merge, bool) and 0 < merge <= 64 else 1
    return ModelSpec(
        name=name, model_type=hf_config.model_type, architecture=type(model).__name__, units=tuple(units),
        image_merge=merge * merge, image_patches=None if merge > 1 else fixed_resolution_patches(vision_cfg),
        no_split_modules=tuple(sorted(no_split)), tied_groups=_tied_groups(units),
        vocab_size=vocab, hidden_size=hidden, source="config",
        quantization_config=data.get("quantization_config") if isinstance(data.get("quantization_config"), dict) else None,
        notes=tuple(notes), supports_sdpa=bool(getattr(type(model), "_supports_sdpa", True)),
    )


def _tied_groups(units: list[Unit]) -> tuple[tuple[str, ...], ...]:
    where = {t.name: u.name for u in units for t in u.tensors}
    groups: dict[str, list[str]] = {}
    for u in units:
        for t in u.tensors:
            if t.tied_to is not None and t.tied_to in where and where[t.tied_to] != u.name:
                members = groups.setdefault(where[t.tied_to], [where[t.tied_to]])
                if u.name not in members:
                    members.append(u.name)
    return tuple(tuple(g) for g in groups.values())


def spec_from_meta(data: dict[str, Any], name: str = "model", where: str = "config.json") -> ModelSpec:
    """ModelSpec of any architecture transformers can build, cached on disk by config and version."""
    from planner.model.config_view import decode_special_floats
    from planner.model.hf_config import with_config_dtype
    from planner.model.spec_cache import cached_spec

    data = decode_special_floats(data)
    return with_config_dtype(cached_spec(data, lambda: _build(data, name, where), name), data)


def _build(data: dict[str, Any], name: str, where: str) -> ModelSpec:
    from planner.model.progress import slow_step_notice

    kind = data.get("model_type") if isinstance(data.get("model_type"), str) else "the model"
    with slow_step_notice(f"first read of {kind}: building it on the meta device with transformers "
                          "(later runs read it from the spec cache)"):
        torch, _ = _imports()
        with quiet_library():
            model, hf_config = build_meta_model(data, where, "bf16")
            return spec_from_module(model, hf_config, data, name, torch.bfloat16)

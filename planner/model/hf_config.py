"""config.json -> ModelSpec for the supported Hugging Face families."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Any

from planner.errors import ConfigError, InputError
from planner.model import layers as spec_layers
from planner.model import legacy_decoders, text_decoders, vision
from planner.model.config_view import ConfigView, check_sizes, decode_special_floats
from planner.model.types import ModelSpec, Unit
from planner.units import normalize_dtype

TEXT_FAMILIES = tuple(text_decoders.FAMILIES)
LEGACY = {"gpt2": legacy_decoders.gpt2_units, "opt": legacy_decoders.opt_units, "falcon": legacy_decoders.falcon_units}
VLM_FAMILIES = ("qwen2_vl", "qwen2_5_vl", "llava", "llava_onevision")
SUPPORTED = tuple(sorted((*TEXT_FAMILIES, *LEGACY, *VLM_FAMILIES)))
_ARCH = {
    "llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM", "gemma": "GemmaForCausalLM", "gemma2": "Gemma2ForCausalLM",
    "phi3": "Phi3ForCausalLM", "mixtral": "MixtralForCausalLM", "qwen2_moe": "Qwen2MoeForCausalLM",
    "qwen3_moe": "Qwen3MoeForCausalLM", "deepseek_v3": "DeepseekV3ForCausalLM", "gpt2": "GPT2LMHeadModel",
    "opt": "OPTForCausalLM", "falcon": "FalconForCausalLM", "qwen2_vl": "Qwen2VLForConditionalGeneration",
    "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration", "llava": "LlavaForConditionalGeneration",
    "llava_onevision": "LlavaOnevisionForConditionalGeneration",
}


COMPUTE_DTYPES = ("fp32", "bf16", "fp16")
"""The widths a model's unquantized weights are held at (what ``--dtype`` accepts)."""


def config_dtype(cfg: ConfigView) -> tuple[str | None, str | None]:
    """(dtype, error) the config names for ``from_pretrained(dtype="auto")``, transformers 5's
    default: ``dtype`` (or the older ``torch_dtype``) of the config, else of its text_config.
    (None, None) when it names none; (None, why) when it names one the planner does not size
    (float64, an fp8 or integer type, a typo): such a model is refused unless ``--dtype`` is given."""
    key = "dtype" if cfg.has("dtype") else "torch_dtype"
    raw, where = cfg.raw("dtype", "torch_dtype"), cfg.where
    if raw is None:
        text = cfg.data.get("text_config")
        if isinstance(text, dict) and (text.get("dtype") or text.get("torch_dtype")) is not None:
            key = "dtype" if text.get("dtype") is not None else "torch_dtype"
            raw, where = text[key], f"{cfg.where}:text_config"
    if raw is None:
        return None, None
    name = None
    with contextlib.suppress(InputError):
        name = normalize_dtype(str(raw), key)
    if name in COMPUTE_DTYPES:
        return name, None
    return None, (f"{where}: field '{key}' is {str(raw)[:40]!r}, a dtype the planner does not size weights at; "
                  f"pass --dtype fp32, bf16 or fp16 (what from_pretrained(dtype=...) would be given)")


def with_config_dtype(spec: ModelSpec, data: dict) -> ModelSpec:
    """The spec with the dtype its config names, or marked unnamed (then from_config's fp32, unless
    a checkpoint beside the config says otherwise: model/load.py) or unsizable."""
    dtype, error = config_dtype(ConfigView(data))
    if error:
        return replace(spec, default_dtype="fp32", dtype_from="unknown", dtype_error=error)
    return replace(spec, default_dtype=dtype or "fp32", dtype_from="config" if dtype else "unnamed")


def _tie(cfg: ConfigView, default: bool, embed: str) -> str | None:
    return f"{embed}.weight" if cfg.bool("tie_word_embeddings", default) else None


def _finish(name: str, cfg: ConfigView, model_type: str, units: list[Unit], vocab: int, hidden: int,
            head_in: int, tie_to: str | None, notes: tuple[str, ...] = (), traits: tuple[float, bool] = (1.0, True)) -> ModelSpec:
    units.append(text_decoders.lm_head_unit("lm_head", vocab, head_in, tie_to, traits[0]))
    tied = ()
    if tie_to:
        embed_unit = tie_to.removesuffix(".weight")
        tied = ((embed_unit, "lm_head"),)
    no_split = tuple(sorted({u.block_class for u in units if u.block_class}))
    archs = cfg.raw("architectures", default=None)
    arch = archs[0] if isinstance(archs, list) and archs and isinstance(archs[0], str) else _ARCH.get(model_type, "")
    qc = cfg.raw("quantization_config")
    return ModelSpec(
        name=name, model_type=model_type, architecture=arch, units=tuple(units), no_split_modules=no_split,
        tied_groups=tied, vocab_size=vocab, hidden_size=hidden,
        source="config", quantization_config=qc if isinstance(qc, dict) else None, notes=notes, supports_sdpa=traits[1],
    )


def _text_model(name: str, cfg: ConfigView, model_type: str) -> ModelSpec:
    if model_type in LEGACY:
        units, vocab, head_in, tie_default = LEGACY[model_type](cfg)
        embed = units[0].name
        return _finish(name, cfg, model_type, units, vocab, units[-1].hidden_size, head_in, _tie(cfg, tie_default, embed))
    units = text_decoders.text_decoder_units(cfg, model_type, "model")
    vocab, hidden, tie_default = text_decoders.text_dims(cfg, model_type)
    return _finish(name, cfg, model_type, units, vocab, hidden, hidden, _tie(cfg, tie_default, "model.embed_tokens"),
                   traits=text_decoders.head_traits(cfg, model_type))


def _text_family(text: ConfigView, default: str) -> str:
    mt = text.raw("model_type", default=default)
    if not isinstance(mt, str) or mt not in text_decoders.FAMILIES:
        raise ConfigError(f"{text.where}: text model_type {mt!r} is not supported inside a VLM; "
                          f"supported: {', '.join(text_decoders.FAMILIES)}")
    return mt


def _vlm(name: str, cfg: ConfigView, model_type: str) -> ModelSpec:
    base = "model.language_model"
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
        text = cfg.sub("text_config", fallback_to_self=True)
        block = "Qwen2_5_VLDecoderLayer" if model_type == "qwen2_5_vl" else "Qwen2VLDecoderLayer"
        text_units = text_decoders.text_decoder_units(text, "qwen2", base, block)
        vocab, hidden, _ = text_decoders.text_dims(text, "qwen2")
        vis = vision.qwen_vl_tower(cfg.sub("vision_config"), "model.visual", model_type == "qwen2_5_vl", hidden)
        units = vis + text_units
        merge = cfg.sub("vision_config").int("spatial_merge_size", default=2)
        return replace(_finish(name, cfg, model_type, units, vocab, hidden, hidden, _tie(cfg, False, f"{base}.embed_tokens")),
                       image_merge=merge * merge)
    text = cfg.sub("text_config")
    family = _text_family(text, "llama" if model_type == "llava" else "qwen2")
    v = cfg.sub("vision_config")
    vkind = v.raw("model_type", default="clip_vision_model" if model_type == "llava" else "siglip_vision_model")
    if vkind not in ("clip_vision_model", "siglip_vision_model"):
        raise ConfigError(f"{v.where}: vision model_type {vkind!r} is not supported; use clip_vision_model or siglip_vision_model")
    vis = vision.clip_like_tower(v, "model.vision_tower", vkind)
    text_units = text_decoders.text_decoder_units(text, family, base)
    vocab, hidden, _ = text_decoders.text_dims(text, family)
    units = []
    if model_type == "llava_onevision":  # a direct parameter of `model`: accelerate takes it before the submodules
        units.append(Unit("model.image_newline", "other", (spec_layers.param("model.image_newline", (hidden,)),), hidden_size=hidden, tower="vision"))
    units += vis + [vision.llava_projector(cfg, vis[0].hidden_size, hidden, "model")] + text_units
    spec = _finish(name, cfg, model_type, units, vocab, hidden, hidden, _tie(cfg, False, f"{base}.embed_tokens"),
                   traits=text_decoders.head_traits(text, family))
    return replace(spec, image_patches=fixed_resolution_patches(v.data))


def fixed_resolution_patches(vision_cfg: dict) -> int | None:
    """(image_size / patch_size)^2 of a vision config that names both, else None."""
    size, patch = vision_cfg.get("image_size"), vision_cfg.get("patch_size")
    if not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in (size, patch)):
        return None
    return (size // patch) ** 2 or None


def _from_lmms_llava(data: dict[str, Any]) -> dict[str, Any]:
    """LLaVA-NeXT's own flat layout (lmms-lab checkpoints, ``mm_vision_tower``) -> llava_onevision layout."""
    archs = " ".join(data.get("architectures") or []).lower()
    family = "qwen2" if "qwen" in archs or "qwen" in str(data.get("_name_or_path", "")).lower() else "llama"
    text = {k: v for k, v in data.items() if not k.startswith("mm_") and k not in ("model_type", "architectures")}
    text["model_type"] = family
    select = data.get("mm_vision_select_layer", -2)
    tower = str(data.get("mm_vision_tower", "siglip"))
    siglip = "siglip" in tower.lower()
    layers = (27 if siglip else 24) + (select + 1 if isinstance(select, int) and select < -1 else 0)
    vision_cfg = {"model_type": "siglip_vision_model" if siglip else "clip_vision_model", "num_hidden_layers": layers,
                  "vision_use_head": False}
    if siglip:
        vision_cfg.update(hidden_size=1152, intermediate_size=4304, num_attention_heads=16, image_size=384, patch_size=14)
    return {"model_type": "llava_onevision", "architectures": data.get("architectures"), "text_config": text,
            "vision_config": vision_cfg, "tie_word_embeddings": data.get("tie_word_embeddings", False),
            "torch_dtype": data.get("torch_dtype")}


def spec_from_config(data: Any, name: str = "model", where: str = "config.json") -> ModelSpec:
    """Build the ModelSpec of a Hugging Face config.json (already parsed), with its context limit."""
    from planner.model.context_limit import max_model_len

    data = decode_special_floats(data)
    spec = _spec_from_config(data, name, where)
    limit, source = max_model_len(data)
    return replace(spec, max_model_len=limit, max_model_len_source=source)


def _spec_from_config(data: Any, name: str, where: str) -> ModelSpec:
    cfg = ConfigView(data, where)
    check_sizes(data, where)
    notes: tuple[str, ...] = ()
    if "mm_vision_tower" in cfg.data:
        cfg = ConfigView(_from_lmms_llava(cfg.data), where)
        notes = ("LLaVA-NeXT flat config read in the transformers llava_onevision layout",)
    model_type = cfg.raw("model_type")
    if not isinstance(model_type, str):
        raise ConfigError(f"{where}: missing field 'model_type'; a Hugging Face config.json names its family there")
    if model_type not in SUPPORTED:
        from planner.model.meta_build import meta_route_available, spec_from_meta

        if not meta_route_available():
            raise ConfigError(
                f"{where}: model_type {model_type!r} is not a hand-written family ({', '.join(SUPPORTED)}); any other "
                "architecture is read by transformers on the meta device: pip install 'planner[hf]'"
            )
        return spec_from_meta(cfg.data, name, where)
    spec = _vlm(name, cfg, model_type) if model_type in VLM_FAMILIES else _text_model(name, cfg, model_type)
    if notes:
        spec = replace(spec, notes=notes)
    return with_config_dtype(spec, cfg.data)

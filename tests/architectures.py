"""The architectures transformers ships (its causal-LM and image-text-to-text auto mappings) and their
default configs cut to a few layers, for the tests that go over every one of them."""

from __future__ import annotations

from hf_reference import build_meta

LAYER_KEYS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "decoder_layers", "encoder_layers", "depth")
LIST_KEYS = ("layer_types", "layers_block_type", "mlp_layer_types")


def mapping_types() -> list[tuple[str, str]]:
    try:
        from transformers.models.auto import modeling_auto as ma
    except ImportError:
        return []
    return sorted({("causal-lm", t) for t in ma.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES}
                  | {("image-text-to-text", t) for t in ma.MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES})


def cut_layers(config: dict, keep: int) -> dict:
    """The config with at most ``keep`` layers in every stack, per-layer lists cut to match."""
    out = {}
    for key, value in config.items():
        if key in LAYER_KEYS and isinstance(value, int) and value > keep:
            value = keep
        elif isinstance(value, dict):
            value = cut_layers(value, keep)
        elif key in LIST_KEYS and isinstance(value, list):
            value = value[:keep]
        out[key] = value
    return out


def default_config(model_type: str, layers: int = 2) -> dict:
    """transformers' default config of ``model_type`` with ``layers`` layers per stack (twice that
    where the config class rejects the cut, the whole config where it rejects both)."""
    from transformers import AutoConfig

    full = AutoConfig.for_model(model_type).to_dict()
    for keep in (layers, 2 * layers):
        cfg = cut_layers(full, keep)
        try:
            build_meta(cfg, "bf16")
            return cfg
        except Exception:  # noqa: BLE001, S112 - a cut the config class rejects: try a longer one
            continue
    return full

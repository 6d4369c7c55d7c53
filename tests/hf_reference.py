"""The independent source: models built by transformers on the meta device, sized by accelerate."""

from __future__ import annotations

import warnings


def build_meta(config: dict):
    """A transformers model with no storage, exactly as from_config builds it, weights tied."""
    import torch
    from accelerate import init_empty_weights
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    cfg = {k: v for k, v in config.items() if not k.startswith("_") and k != "quantization_config"}
    hf_config = AutoConfig.for_model(**cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # torch.device("meta") also catches tensors created with torch.empty inside __init__ (MoE experts)
        with torch.device("meta"), init_empty_weights():
            try:
                model = AutoModelForCausalLM.from_config(hf_config, dtype=torch.float32)
            except ValueError:
                model = AutoModelForImageTextToText.from_config(hf_config, dtype=torch.float32)
    model.tie_weights()
    return model


def module_sizes(model, dtype: str) -> dict[str, int]:
    import torch
    from accelerate.utils import compute_module_sizes

    return dict(compute_module_sizes(model, dtype={"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}[dtype]))

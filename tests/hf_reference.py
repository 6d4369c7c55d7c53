"""The independent source: models built by transformers on the meta device, sized by accelerate.

``build_meta(config, dtype)`` instantiates the model as ``from_pretrained(dtype=...)`` does: the
config through ``AutoConfig``, the Auto class's ``from_config`` under the target dtype, then the
upcast ``from_pretrained`` applies to ``_keep_in_fp32_modules_strict`` (transformers' own dtype
plan and glob matcher). ``module_sizes`` is accelerate's ``compute_module_sizes`` at the dtype
each tensor really has: what is resident, not accelerate's ``dtype=`` shortcut.
"""

from __future__ import annotations

import warnings

DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def build_meta(config: dict, dtype: str = "fp32"):
    """A transformers model with no storage, exactly as from_pretrained builds it, weights tied."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText
    from transformers.core_model_loading import build_glob_alternation

    torch_dtype = getattr(torch, DTYPES[dtype])
    cfg = {k: v for k, v in config.items() if not k.startswith("_") and k != "quantization_config"}
    hf_config = AutoConfig.for_model(**cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # torch.device("meta") also catches tensors created with torch.empty inside __init__ (MoE experts)
        with torch.device("meta"):
            try:
                model = AutoModelForCausalLM.from_config(hf_config, dtype=torch_dtype)
            except ValueError:
                model = AutoModelForImageTextToText.from_config(hf_config, dtype=torch_dtype)
    model.tie_weights()
    plan = model._get_dtype_plan(torch_dtype)
    if plan:
        alternation = build_glob_alternation(list(plan))[0]
        for name, param in model.named_parameters():
            if alternation.search(name):
                param.data = param.data.float()
        for mname, module in model.named_modules():
            for bname, buf in list(module._buffers.items()):
                if buf is not None and buf.is_floating_point() and alternation.search(f"{mname}.{bname}"):
                    module._buffers[bname] = buf.float()
    return model


def module_sizes(model) -> dict[str, int]:
    """Bytes per module prefix at each tensor's own dtype (accelerate, ``dtype=None``)."""
    from accelerate.utils import compute_module_sizes

    return dict(compute_module_sizes(model))

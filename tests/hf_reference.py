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


def cache_held_bytes(cache) -> int:
    """Bytes of every tensor a transformers cache holds (keys, values, indexer keys, conv and
    recurrent states), each storage counted once; bookkeeping scalars are left out (a sliding
    layer's private int64 ``_sliding_window_tensor``, and since transformers 5.25 a recurrent
    layer's int64 ``cumulative_length_linear``: 8 bytes a layer, not per sequence)."""
    import torch

    seen, total = set(), 0

    def visit(value):
        nonlocal total
        if isinstance(value, torch.Tensor) and value.dim():
            storage = value.untyped_storage()
            if storage.data_ptr() not in seen and storage.nbytes():
                seen.add(storage.data_ptr())
                total += storage.nbytes()
        elif isinstance(value, dict):
            for v in value.values():
                visit(v)
        elif isinstance(value, list | tuple):
            for v in value:
                visit(v)

    for layer in cache.layers:
        visit({k: v for k, v in vars(layer).items() if not k.startswith("_")})
    return total


def transformers_cache_bytes(cfg: dict, batch: int, prompt: int, new_tokens: int, vocab: int) -> int:
    """The most a tiny random bf16 model's own cache holds after a prefill of ``prompt`` tokens and
    after generating ``new_tokens`` more, run for real on CPU."""
    import torch
    import transformers

    config = transformers.AutoConfig.for_model(**cfg)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).eval()
    ids = torch.randint(1, vocab, (batch, prompt))
    with torch.no_grad():
        held = cache_held_bytes(model(ids, use_cache=True).past_key_values)
        if new_tokens:
            out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                 return_dict_in_generate=True)
            held = max(held, cache_held_bytes(out.past_key_values))
    return held

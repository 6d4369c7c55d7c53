"""Predicted vs measured GPU memory (torch.cuda.max_memory_allocated) for random-initialised models.

Run on a CUDA machine: ``python benchmarks/gpu_validation.py OUT.md``. For each model built from a
catalog config (random weights, bf16, on the GPU) and each workload, it measures
- weights: torch.cuda.memory_allocated() after building, against the planner's weights_bytes;
- the forward/generate peak above the weights, against the planner's KV cache + activation peak.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import planner  # noqa: E402
from planner.workload import Workload  # noqa: E402

CASES = [
    ("Meta-Llama-3-8B", [(1, 512, 0, "sdpa"), (4, 512, 0, "sdpa"), (1, 2048, 0, "sdpa"), (4, 2048, 0, "sdpa"),
                         (1, 512, 0, "eager"), (4, 512, 0, "eager"), (1, 2048, 0, "eager"), (4, 2048, 0, "eager"),
                         (8, 1024, 256, "sdpa")]),
    ("Qwen2.5-7B", [(1, 2048, 0, "sdpa"), (4, 2048, 0, "sdpa"), (4, 1024, 256, "sdpa")]),
    ("Qwen3-30B-A3B", [(1, 2048, 0, "sdpa"), (4, 512, 0, "sdpa"), (2, 1024, 128, "sdpa")]),
]


def build(name: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = json.loads((ROOT / "catalogs" / "models" / f"{name}.json").read_text())
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_") and k != "quantization_config"}
    config = AutoConfig.for_model(**cfg)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    return model.eval(), config


def main(out_path: str) -> None:
    rows = ["| model | batch | prompt | new | attn | weights predicted GiB | weights measured GiB | peak above weights predicted GiB | measured GiB | error |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    notes = []
    for name, workloads in CASES:
        torch.cuda.empty_cache()
        model, config = build(name)
        torch.cuda.synchronize()
        allocated = torch.cuda.memory_allocated()
        tensors = {t.data_ptr(): t.untyped_storage().nbytes() for t in [*model.parameters(), *model.buffers()]}
        weights_measured = sum(tensors.values())
        extra = allocated - weights_measured
        with torch.no_grad():  # warm-up: cuBLAS workspaces and lazy buffers are allocated on the first call
            model(torch.ones(1, 16, dtype=torch.long, device="cuda"))
        torch.cuda.synchronize()
        notes.append(f"{name}: parameters+buffers {weights_measured} B on the GPU, memory_allocated {allocated} B "
                     f"({extra / 2**30:.3f} GiB held by something other than the model's tensors)")
        for batch, prompt, new, attn in workloads:
            model.config._attn_implementation = attn
            for module in model.modules():
                if hasattr(module, "config"):
                    module.config._attn_implementation = attn
            w = Workload(dtype="bf16", batch=batch, prompt_tokens=prompt, new_tokens=new, attn_implementation=attn)
            p = planner.estimate(name, w)
            ids = torch.randint(1, config.vocab_size, (batch, prompt), device="cuda")
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            t0 = time.perf_counter()
            with torch.no_grad():
                if new:
                    out = model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
                else:
                    out = model(ids, use_cache=True)
            torch.cuda.synchronize()
            measured = torch.cuda.max_memory_allocated() - base
            del out
            predicted = p.kv_bytes + p.activation_peak_bytes
            err = predicted / measured - 1
            rows.append(f"| {name} | {batch} | {prompt} | {new} | {attn} | {p.weights_bytes / 2**30:.3f} | {weights_measured / 2**30:.3f} | "
                        f"{predicted / 2**30:.3f} | {measured / 2**30:.3f} | {err * 100:+.1f}% |")
            print(rows[-1], f"{time.perf_counter() - t0:.1f}s", flush=True)
            torch.cuda.empty_cache()
        del model
        torch.cuda.empty_cache()
    import transformers

    text = (f"GPU: {torch.cuda.get_device_name()}, torch {torch.__version__}, transformers {transformers.__version__}\n\n"
            + "\n".join(rows) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n")
    Path(out_path).write_text(text)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "gpu_validation.md")

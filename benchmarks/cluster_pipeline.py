"""The cluster pipeline partitioner and ``planner size`` at 32 machines x 8 GPUs.

Pipeline: 32 machines of 8 GPUs, two kinds alternating (H100 80GB and A100 40GB; then H100 and
L40S), DeepSeek-R1 (fp8) and Llama-3.1-405B (bf16) served by vLLM, every tensor-parallel size
vLLM accepts. Per case: the KV blocks of the best pipeline, the stages, and the time. The
exhaustive check (every machine order x every split) is only possible on a handful of layers and
machines, so tests/test_pipeline.py makes it there; here the figure to watch is the time at a
size where the old search (720 machine orders of 32! possible) could not be exhaustive.

Size: ``planner size`` with ``--max-gpus 256 --gpus-per-node 8`` for both models at 32k context
and 64 concurrent sequences, every catalog GPU type, objective price: status and time.

Usage: python benchmarks/cluster_pipeline.py
"""

from __future__ import annotations

import sys
import time

from planner import profile
from planner.catalog import find_gpu, gpu_types
from planner.costs.vllm import TP_SIZES
from planner.hardware.topology import Cluster, Node
from planner.sizing.fleet import size
from planner.sizing.pipeline import best_pipeline

MODELS = {"DeepSeek-R1": {"dtype": "bf16", "quant": "fp8-block"}, "Llama-3.1-405B": {"dtype": "bf16", "quant": "none"}}
MIXES = {"H100 + A100-40GB": ("H100", "A100-40GB"), "H100 + L40S": ("H100", "L40S")}


def main() -> int:
    print(f"{'model':<16}{'cluster (32 x 8)':<20}{'tp':>4}{'stages':>8}{'KV blocks':>11}{'ms':>9}")
    for name, kw in MODELS.items():
        prof = profile(name, engine="vllm", **kw)
        for label, (a, b) in MIXES.items():
            cluster = Cluster(tuple(Node(f"m{k:02d}", find_gpu(a if k % 2 == 0 else b), 8, 50.0) for k in range(32)))
            for tp in TP_SIZES:
                t0 = time.perf_counter()
                plan = best_pipeline(prof, cluster, tp)
                ms = (time.perf_counter() - t0) * 1e3
                stages = len(plan.stages) if plan else 0
                blocks = plan.kv_blocks if plan else "-"
                print(f"{name:<16}{label:<20}{tp:>4}{stages:>8}{blocks:>11}{ms:>9.1f}", flush=True)
    print(f"\n{'size: model':<22}{'status':<10}{'GPUs':>6}{'ms':>9}")
    for name, kw in MODELS.items():
        prof = profile(name, engine="vllm", **kw)
        t0 = time.perf_counter()
        answer = size(prof, gpu_types(), context=32768, concurrency=64, objective="price", gpus_per_node=8, max_gpus=256)
        ms = (time.perf_counter() - t0) * 1e3
        gpus = sum(c.gpus * r for c, r in answer.choice)
        print(f"{name:<22}{answer.status:<10}{gpus:>6}{ms:>9.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

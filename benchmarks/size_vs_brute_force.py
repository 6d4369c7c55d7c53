"""Speed of `planner size` over the whole GPU catalog against exhaustive enumeration of the same
replica layouts (every multiset of replicas within the GPU budget), with the answers compared.

Usage: python benchmarks/size_vs_brute_force.py
"""

from __future__ import annotations

import sys
import time

CASES = [
    ("Meta-Llama-3-8B", 8192, 8, "price", 16),
    ("Llama-3.1-70B", 32768, 16, "hourly", 16),
    ("Mixtral-8x7B-v0.1", 16384, 8, "price", 16),
    ("Qwen2.5-72B", 8192, 4, "gpus", 16),
]


def main() -> int:
    from planner import profile
    from planner.catalog import gpu_types
    from planner.sizing.fleet import exhaustive, make_candidates, size

    size(profile("gpt2", engine="vllm"), list(gpu_types())[:1], 512, 1)  # import and warm up OR-Tools once
    print(f"{'model':<20}{'objective':<9}{'layouts':>8}{'sizing ms':>10}{'of which layouts':>17}{'CP-SAT':>8}"
          f"{'enumeration':>12}  same answer")
    bad = 0
    for model, context, concurrency, objective, max_gpus in CASES:
        prof = profile(model, engine="vllm")
        types = [g for g in gpu_types() if objective == "gpus" or (g.price_usd if objective == "price" else g.price_usd_per_hour)]
        t0 = time.perf_counter()
        answer = size(prof, types, context, concurrency, objective, max_gpus=max_gpus)
        t_size = time.perf_counter() - t0
        t0 = time.perf_counter()
        cands = [c for c in make_candidates(prof, types, context, concurrency, max_gpus=max_gpus, objective=objective,
                                            speed_batch=concurrency) if c.cost(objective) != float("inf")]
        t_layouts = time.perf_counter() - t0
        t0 = time.perf_counter()
        best = exhaustive(cands, concurrency, objective, max_gpus)
        t_brute = time.perf_counter() - t0
        got = (sum(c.cost(objective) * n for c, n in answer.choice), sum(c.gpus * n for c, n in answer.choice))
        same = best is not None and abs(got[0] - best[0]) < 1e-6 and got[1] == best[1]
        bad += not same
        print(f"{model:<20}{objective:<9}{answer.considered:>8}{t_size * 1e3:>10.1f}{t_layouts * 1e3:>17.1f}"
              f"{(t_size - t_layouts) * 1e3:>8.1f}{t_brute * 1e3:>12.1f}  {same} ({got[0]:g}, {got[1]} GPUs)")
    print("(ms; the enumeration walks every multiset of replicas within the GPU budget, pruned by the best cost so far)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

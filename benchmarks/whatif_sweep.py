"""Speed of `planner whatif`, across processes: (1) 1,000 device_map plans of Llama-3-8B (5 precisions
x 8 contexts x 5 GPU types x 5 GPU counts, CPU offload available); (2) 1,600 plans of Llama-3.1-70B of
every mix (5 precisions x 5 contexts x 8 GPU sets from 2xH100 to one RTX 4090 or a mixed home lab
with 512 GiB of RAM, so many points offload, x KV dtype x batch x attention kernel). Prints points
per second and how every point was decided (proven optimal, a plan not proven in time, proven
infeasible, error); the aim is 1,000 points under 10 s on a 2-core machine, every point decided.

Usage: python benchmarks/whatif_sweep.py [JOBS]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

SWEEP = """
model: Meta-Llama-3-8B
task: plan
workload: {batch: 4, new_tokens: 128}
inventory: {gpus: [RTX4090], cpu: 128GiB}
sweep:
  workload.quant: [none, int8, nf4, fp8, awq]
  workload.prompt_tokens: [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
  inventory.gpus: [[RTX4090], [2xRTX4090], [3xRTX4090], [4xRTX4090], [8xRTX4090],
                   [L40S], [2xL40S], [3xL40S], [4xL40S], [8xL40S],
                   [A100-80GB], [2xA100-80GB], [3xA100-80GB], [4xA100-80GB], [8xA100-80GB],
                   [H100], [2xH100], [3xH100], [4xH100], [8xH100],
                   [MI300X], [2xMI300X], [3xMI300X], [4xMI300X], [8xMI300X]]
"""
SWEEP_70B = """
model: Llama-3.1-70B
workload: {batch: 1}
inventory: {gpus: [H100], cpu: 512GiB}
sweep:
  workload.quant: [none, fp8, int8, nf4, gptq]
  workload.prompt_tokens: [2048, 8192, 32768, 65536, 131072]
  inventory.gpus: [[2xH100], [4xA100-80GB], [4xL40S], [RTX-4090], [2xRTX-4090], [RTX-4090, RTX-3090, 12GiB], [RTX-5090],
                   [8xA100-40GB]]
  workload.kv_dtype: [bf16, fp8]
  workload.batch: [1, 4]
  workload.attn_implementation: [sdpa, eager]
"""


def main() -> int:
    from planner.whatif.run import run
    from planner.whatif.schema import load_whatif

    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else (os.cpu_count() or 1)
    print(f"{'sweep':<14}{'points':>7}{'jobs':>6}{'load s':>8}{'run s':>8}{'points/s':>10}{'fit':>6}{'proven':>8}"
          f"{'not proven':>11}{'infeasible':>11}{'errors':>8}")
    worst = 0.0
    failed = 0
    for name, text in (("Llama-3-8B", SWEEP), ("Llama-3.1-70B", SWEEP_70B)):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sweep.yaml")
            with open(path, "w") as f:
                f.write(text)
            t0 = time.perf_counter()
            points = load_whatif(path)
            t_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            rows = run(points, jobs=jobs)
            t_run = time.perf_counter() - t0
        status = [r["results"].get("status") for r in rows]
        fits = sum(1 for r in rows if r["results"].get("fits"))
        print(f"{name:<14}{len(rows):>7}{jobs:>6}{t_load:>8.2f}{t_run:>8.2f}{len(rows) / t_run:>10.1f}{fits:>6}"
              f"{status.count('optimal'):>8}{status.count('feasible'):>11}{status.count('infeasible'):>11}"
              f"{status.count('error') + status.count('unknown'):>8}")
        worst = max(worst, (t_load + t_run) * 1000 / len(rows))
        failed += status.count("error") + status.count("unknown")
    print(f"slowest: {worst:.1f} s per 1,000 points (aim: under 10 s, every point decided)")
    return 0 if worst < 10 and not failed else 1

if __name__ == "__main__":
    sys.exit(main())

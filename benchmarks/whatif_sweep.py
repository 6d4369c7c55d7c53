"""Speed of `planner whatif`: a 1,000-point sweep (5 precisions x 8 contexts x 5 GPU types x 5 GPU
counts) of device_map plans for Llama-3-8B with CPU offload available, across processes.
Prints points per second; the aim is under 60 s on a 2-core machine.

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


def main() -> int:
    from planner.whatif.run import run
    from planner.whatif.schema import load_whatif

    jobs = int(sys.argv[1]) if len(sys.argv) > 1 else (os.cpu_count() or 1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "sweep.yaml")
        with open(path, "w") as f:
            f.write(SWEEP)
        t0 = time.perf_counter()
        points = load_whatif(path)
        t_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        rows = run(points, jobs=jobs)
        t_run = time.perf_counter() - t0
    fits = sum(1 for r in rows if r["results"].get("fits"))
    errors = sum(1 for r in rows if r["results"].get("status") == "error")
    proven = sum(1 for r in rows if r["results"].get("status") == "optimal")
    print(f"{'points':>7}{'jobs':>6}{'load s':>8}{'run s':>8}{'points/s':>10}{'fit':>6}{'proven':>8}{'errors':>8}")
    print(f"{len(rows):>7}{jobs:>6}{t_load:>8.2f}{t_run:>8.2f}{len(rows) / t_run:>10.1f}{fits:>6}{proven:>8}{errors:>8}")
    return 0 if t_load + t_run < 60 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())

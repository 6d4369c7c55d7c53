"""Placement at cluster scale against accelerate, in the same run.

Mixed GPUs (24/12/40/48/80 GiB cycled, as CUDA numbers them) plus 1 TiB of CPU RAM and 4 TiB of
disk, from 1 to 128 GPUs; Llama-3.1-405B, DeepSeek-R1 and Mixtral-8x22B in bf16, with no
workload and generating (batch 4, 2048 + 256 tokens); objectives ``gpus`` (the default) and
``balance``. Per case it prints the planner's status, its certified gap, GPUs in use, the
fullest GPU, the whole ``make_plan`` call in ms, and accelerate's ``get_balanced_memory`` +
``infer_auto_device_map`` on the model built by transformers on the meta device, in ms, with
the ratio (each the best of REPEAT runs). A gap is the relative distance between the plan's fullest GPU and the least value
not ruled out; "optimal" means every stage was proven.

The ``path`` column says what answered: ``segments`` (the exact segment search: everything fits
on GPUs), ``infeasible`` (ruled out without CP-SAT by placement/screen.py, then the diagnosis), or
``cp-sat`` (offloading needed). After the table: the ratio's spread per path and per GPU count
(times, the worst ratio, statuses and the largest gap), and the start-up
of a ``planner plan`` process with and without CP-SAT (``python -X importtime``).

Usage: python benchmarks/cluster_placement.py [MODEL ...]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
GiB = 2**30
CYCLE = [24, 12, 40, 48, 80]
SIZES = [1, 2, 4, 8, 16, 32, 64, 128]
MODELS = ["Llama-3.1-405B", "DeepSeek-R1", "Mixtral-8x22B-v0.1"]
REPEAT = 5
"""Each side is timed this many times and its best time kept (the machine's noise is one-sided)."""
WORKLOADS = {"none": {}, "generate": {"batch": 4, "prompt_tokens": 2048, "new_tokens": 256}}


def accelerate_ms(meta, budget: dict) -> float:
    import logging

    import torch
    from accelerate import infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    nsm = meta._no_split_modules
    logging.getLogger("accelerate").setLevel(logging.ERROR)  # a warning per device not on this machine, not timed
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        caps = get_balanced_memory(meta, max_memory=dict(budget), no_split_module_classes=nsm, dtype=torch.bfloat16)
        infer_auto_device_map(meta, max_memory=caps, no_split_module_classes=nsm, dtype=torch.bfloat16)
    return (time.perf_counter() - t0) * 1e3


def _path_probe() -> list[str]:
    """Records "cp-sat" each time make_plan hands a problem to CP-SAT."""
    import planner.placement.solver as solver

    seen: list[str] = []
    cpsat = solver._solve_cpsat

    def wrapped(*args, **kwargs):
        seen.append("cp-sat")
        return cpsat(*args, **kwargs)

    solver._solve_cpsat = wrapped
    return seen


def startup() -> None:
    """Wall time of two ``planner plan`` processes (one that fits on its GPUs, one that must
    offload) and the imports that CP-SAT brings, from ``python -X importtime``."""
    import subprocess

    cases = {"fits (segment search)": ["Llama-3.1-70B", "--gpu", "8xH100"],
             "offloads (CP-SAT)": ["Llama-3.1-70B", "--gpu", "4xRTX-4090", "--cpu", "256GiB"]}
    print(f"\n{'start-up: planner plan':<32}{'wall ms':>9}{'CP-SAT import ms':>18}{'of it pandas ms':>17}")
    for label, args in cases.items():
        cmd = [sys.executable, "-X", "importtime", "-m", "planner", "plan", *args]
        best, imports = None, {}
        for _ in range(3):
            t0 = time.perf_counter()
            out = subprocess.run(cmd, capture_output=True, text=True, check=False)
            ms = (time.perf_counter() - t0) * 1e3
            best = ms if best is None else min(best, ms)
            for line in out.stderr.splitlines():
                parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
                if len(parts) == 3 and parts[2] in ("ortools.sat.python.cp_model", "pandas"):
                    imports[parts[2]] = int(parts[1]) / 1e3
        print(f"{label:<32}{best:>9.0f}{imports.get('ortools.sat.python.cp_model', 0):>18.0f}"
              f"{imports.get('pandas', 0):>17.0f}")


def main(models: list[str]) -> int:
    from hf_reference import build_meta

    from planner import profile
    from planner.catalog import load_model_config
    from planner.hardware.inventory import build_inventory
    from planner.placement.plan import make_plan

    print(f"{'model':<20}{'GPUs':>5}  {'workload':<9}{'objective':<9}{'status':<10}{'gap':>7}{'used':>6}{'fullest':>9}"
          f"{'planner ms':>11}{'accel. ms':>10}{'ratio':>7}  path")
    slow, unproven, ratios, by_size = [], [], {}, {}
    seen = _path_probe()
    warm = build_inventory(max_memory={0: 24 * GiB, "cpu": 64 * GiB})  # imports (CP-SAT's too) not timed: see start-up
    make_plan(profile("Llama-3.2-1B", dtype="bf16", quant="none"), warm)
    make_plan(profile("Llama-3.1-70B", dtype="bf16", quant="none"), warm)
    for name in models:
        meta = build_meta(load_model_config(name))
        for wl_name, wl in WORKLOADS.items():
            prof = profile(name, dtype="bf16", quant="none", **wl)
            for n in SIZES:
                budget = {i: CYCLE[i % 5] * GiB for i in range(n)} | {"cpu": 1024 * GiB}
                acc = min(accelerate_ms(meta, budget) for _ in range(REPEAT))  # accelerate always adds an unlimited disk
                inventory = build_inventory(max_memory=budget, disk="4TiB")
                for objective in ("gpus", "balance"):
                    seen.clear()
                    ms = float("inf")
                    for _ in range(REPEAT):  # the same plan each time (deterministic); the best time
                        t0 = time.perf_counter()
                        plan = make_plan(prof, inventory, objective=objective)
                        ms = min(ms, (time.perf_counter() - t0) * 1e3)
                    path = "cp-sat" if seen else ("infeasible" if plan.assignment is None else "segments")
                    ratios.setdefault(path, []).append(ms / acc)
                    by_size.setdefault(n, []).append((ms, acc, plan.status, plan.gap))
                    used = sum(1 for d in plan.devices if d.kind == "gpu" and d.units)
                    fullest = max((d.utilization for d in plan.devices if d.kind == "gpu"), default=0.0)
                    print(f"{name:<20}{n:>5}  {wl_name:<9}{objective:<9}{plan.status:<10}{plan.gap:>7.2%}{used:>6}"
                          f"{fullest:>9.1%}{ms:>11.1f}{acc:>10.1f}{ms / acc:>7.2f}  {path}", flush=True)
                    if ms > 1000:
                        slow.append(f"{name} {n} {wl_name} {objective}: {ms:.0f} ms")
                    if plan.status != "optimal" and plan.gap >= 0.01:
                        unproven.append(f"{name} {n} {wl_name} {objective}: {plan.status}, gap {plan.gap:.2%}")
    print(f"\n{'path':<10}{'cases':>6}{'ratio <= 1':>11}{'median':>8}{'worst':>7}")
    for path, rows in sorted(ratios.items()):
        rows.sort()
        print(f"{path:<10}{len(rows):>6}{sum(r <= 1 for r in rows):>11}{rows[len(rows) // 2]:>8.2f}{rows[-1]:>7.2f}")
    print(f"\n{'GPUs':>5}{'planner ms':>14}{'accel. ms':>12}{'worst ratio':>13}{'<= 1x':>8}{'max gap':>9}  statuses")
    for n, rows in sorted(by_size.items()):
        statuses = ", ".join(f"{s} {sum(r[2] == s for r in rows)}" for s in sorted({r[2] for r in rows}))
        print(f"{n:>5}{min(r[0] for r in rows):>7.1f}-{max(r[0] for r in rows):<6.1f}{min(r[1] for r in rows):>5.0f}-"
              f"{max(r[1] for r in rows):<6.0f}{max(r[0] / r[1] for r in rows):>13.2f}"
              f"{sum(r[0] <= r[1] for r in rows):>5}/{len(rows):<2}{max(r[3] for r in rows):>9.2%}  {statuses}")
    for line in slow:
        print("over 1 s:", line)
    for line in unproven:
        print("gap of 1% or more:", line)
    startup()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or MODELS))

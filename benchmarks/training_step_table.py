"""Per-phase training memory, planner against torch's MemTracker on this machine's CPU, for the
cases of tests/test_training_step_vs_torch.py; prints the Markdown table of docs/validation.md.

    python benchmarks/training_step_table.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

MiB = 2**20


def main() -> None:
    import torch
    import transformers
    from test_training_step_vs_torch import CASES, FAKE_CASES, measure, measure_fake, predict

    hf = (transformers, None, torch)
    print("| model | precision | optimizer | impl | batch x seq | phase | planner MiB | MemTracker MiB | error |")
    print("|---|---|---|---|---|---|---:|---:|---:|")
    for case in CASES:
        measured = measure(hf, *case)
        cost = predict(*case)
        family, precision, optimizer, impl, batch, seq = case
        rows = (("forward", cost.phases["forward"], measured["forward"]["Total"]),
                ("optimizer step", cost.phases["optimizer step"], measured["step"]["Total"]),
                ("step peak", cost.gpu_peak_bytes, measured["whole"]["Total"]))
        for phase, mine, real in rows:
            print(f"| {family} | {precision} | {optimizer} | {cost.setup.impl} | {batch} x {seq} | {phase} | "
                  f"{mine / MiB:,.1f} | {real / MiB:,.1f} | {100 * (mine - real) / real:+.1f}% |", flush=True)
    print("\nReal sizes under FakeTensorMode (bf16, AdamW, batch 1):\n")
    print("| model | impl | seq | checkpointing | peak phase | planner MiB | MemTracker MiB | error |")
    print("|---|---|---:|---|---|---:|---:|---:|")
    for case in FAKE_CASES:
        peak, cost = measure_fake(hf, *case)
        name, impl, seq, checkpointing = case
        print(f"| {name} | {impl} | {seq} | {checkpointing} | {cost.peak_phase} | {cost.gpu_peak_bytes / MiB:,.1f} | "
              f"{peak['Total'] / MiB:,.1f} | {100 * (cost.gpu_peak_bytes - peak['Total']) / peak['Total']:+.1f}% |", flush=True)


if __name__ == "__main__":
    main()

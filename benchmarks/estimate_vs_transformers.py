"""Speed: `planner estimate` of Llama-3.1-405B from config.json, as a whole process, against building
the same model on the meta device with transformers and calling accelerate's compute_module_sizes
(also as a whole process, imports included). Prints a table and the ratio; also times `planner --help`.

Usage: python benchmarks/estimate_vs_transformers.py [MODEL] [REPEATS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PEER = """
import json, sys, torch
from accelerate import init_empty_weights
from accelerate.utils import compute_module_sizes
from transformers import AutoConfig, AutoModelForCausalLM
cfg = json.load(open(sys.argv[1]))
cfg.pop("quantization_config", None)
config = AutoConfig.for_model(**cfg)
with torch.device("meta"), init_empty_weights():
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
sizes = compute_module_sizes(model, dtype=torch.bfloat16)
print(sizes[""])
"""


def timed(cmd: list[str], repeats: int) -> tuple[float, str]:
    times, out = [], ""
    for _ in range(repeats):
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
        if r.returncode != 0:
            raise SystemExit(f"{cmd[:3]} failed: {r.stderr.strip().splitlines()[-1]}")
        out = r.stdout
    return statistics.median(times), out


def main() -> None:
    model = sys.argv[1] if len(sys.argv) > 1 else "Llama-3.1-405B"
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    config = ROOT / "catalogs" / "models" / f"{model}.json"
    ours, out = timed([sys.executable, "-m", "planner", "estimate", str(config), "--json"], repeats)
    peer, _ = timed([sys.executable, "-c", PEER, str(config)], repeats)
    helptime, _ = timed([sys.executable, "-m", "planner", "--help"], repeats)
    print(f"{'task':<58}{'median s':>10}")
    print(f"{'planner estimate ' + model + ' --json (process)':<58}{ours:>10.3f}")
    print(f"{'transformers meta build + compute_module_sizes (process)':<58}{peer:>10.3f}")
    print(f"{'planner --help (process)':<58}{helptime:>10.3f}")
    print(f"ratio (peer / planner): {peer / ours:.1f}x faster")


if __name__ == "__main__":
    main()

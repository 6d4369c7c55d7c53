"""Speed of every CLI answer a user waits for, as whole processes (imports included), against the
peer a user of transformers reaches for: the meta-device build plus accelerate's
``get_balanced_memory`` and ``infer_auto_device_map``. Medians of REPEATS runs side by side, peak RSS
of each planner process, and where the planner's own start-up goes (``python -X importtime``).

Usage: python benchmarks/cli_startup.py [REPEATS]
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "Llama-3.1-70B"
COMMANDS = {
    "estimate": ["estimate", MODEL],
    "plan, all on GPUs": ["plan", MODEL, "--gpu", "4xH100"],
    "plan, offloading (CP-SAT)": ["plan", MODEL, "--gpu", "RTX-4090", "--gpu", "RTX-3090", "--gpu", "12GiB", "--cpu", "256GiB"],
    "size (serving)": ["size", MODEL, "--context", "8192", "--concurrency", "8"],
    "--help": ["--help"],
}
PEER = """
import json, sys, torch
from accelerate import init_empty_weights, infer_auto_device_map
from accelerate.utils import get_balanced_memory
from transformers import AutoConfig, AutoModelForCausalLM
cfg = json.load(open(sys.argv[1]))
config = AutoConfig.for_model(**cfg)
with torch.device("meta"), init_empty_weights():
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
budget = {0: "22GiB", 1: "22GiB", 2: "11GiB", "cpu": "256GiB"}
balanced = get_balanced_memory(model, max_memory=budget, no_split_module_classes=model._no_split_modules, dtype=torch.bfloat16)
dm = infer_auto_device_map(model, max_memory=balanced, no_split_module_classes=model._no_split_modules, dtype=torch.bfloat16)
print(len(dm))
"""


def run(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and this child's own peak RSS in MiB (``os.wait4``'s rusage, KiB on Linux)."""
    t0 = time.perf_counter()
    child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"{' '.join(cmd[:4])} failed with status {code}")
    child.returncode = code
    return seconds, usage.ru_maxrss // 1024


def top_imports(args: list[str], n: int = 6) -> list[tuple[str, float]]:
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "planner", *args], capture_output=True, text=True, cwd=ROOT)
    rows = []
    for line in r.stderr.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if m and len(m.group(2)) <= 2:  # top-level packages and their direct imports
            rows.append((m.group(3), int(m.group(1)) / 1e6))
    return sorted(rows, key=lambda x: -x[1])[:n]


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    rss: dict[str, int] = {}
    peer_times: list[float] = []
    config = ROOT / "catalogs" / "models" / f"{MODEL}.json"
    json.loads(config.read_text())
    for _ in range(repeats):  # side by side: one of each per round
        for name, args in COMMANDS.items():
            seconds, mib = run([sys.executable, "-m", "planner", *args])
            times[name].append(seconds)
            rss[name] = max(rss.get(name, 0), mib)
        peer_times.append(run([sys.executable, "-c", PEER, str(config)])[0])
    peer = statistics.median(peer_times)
    print(f"{'what (whole process, ' + MODEL + ')':<44}{'median s':>10}{'peak RSS MiB':>14}{'vs peer':>10}")
    for name in COMMANDS:
        t = statistics.median(times[name])
        print(f"{'planner ' + name:<44}{t:>10.3f}{rss[name]:>14}{peer / t:>9.1f}x")
    print(f"{'transformers meta build + accelerate map':<44}{peer:>10.3f}")
    print("\nwhere an offloading plan's start-up goes (python -X importtime, cumulative s):")
    for name, seconds in top_imports(COMMANDS["plan, offloading (CP-SAT)"]):
        print(f"  {name:<42}{seconds:>8.3f}")


if __name__ == "__main__":
    main()

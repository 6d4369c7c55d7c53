"""Speed of the meta route (any architecture transformers ships), cold and warm, as whole processes.

cold: `planner estimate` with an empty spec cache: import transformers and torch, build the model
on the meta device, walk its units, run the meta forwards that measure the cache and the
activation peaks, write the spec. warm: the same command again, reading the cached spec (no
torch import). Peer: transformers' own meta build plus accelerate's compute_module_sizes in a
process (what a user would run by hand to get the bytes alone). The hand-written route of the
same config is shown for reference where the family has one.

Usage: python benchmarks/meta_route_cache.py [REPEATS]
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["Llama-3.1-405B", "DeepSeek-R1", "gpt-oss-20b"]
PEER = """
import json, sys, torch
from accelerate.utils import compute_module_sizes
from transformers import AutoConfig, AutoModelForCausalLM
cfg = {k: v for k, v in json.load(open(sys.argv[1])).items() if k != "quantization_config"}
config = AutoConfig.for_model(**cfg)
with torch.device("meta"):
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
print(compute_module_sizes(model)[""])
"""
FORCE_META = """
import json, sys
from planner.model.meta_build import spec_from_meta
from planner.costs.profile import profile
from planner.workload import Workload
spec = spec_from_meta(json.load(open(sys.argv[1])), "model")
print(profile(spec, Workload()).weights_bytes)
"""


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def main(repeats: int = 3) -> None:
    print(f"{'model':<18}{'cold s':>9}{'warm s':>9}{'peer s':>9}{'warm/peer':>11}{'hand s':>9}")
    for name in MODELS:
        config = ROOT / "catalogs" / "models" / f"{name}.json"
        cold, warm, peer, hand = [], [], [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as cache:
                env = dict(os.environ, PLANNER_CACHE_DIR=cache)
                cmd = [sys.executable, "-c", FORCE_META, str(config)]
                cold.append(timed(cmd, env))
                warm.append(timed(cmd, env))
                peer.append(timed([sys.executable, "-c", PEER, str(config)], env))
                hand.append(timed([sys.executable, "-m", "planner", "estimate", str(config), "--json"], env))
        model_type = json.loads(config.read_text())["model_type"]
        hand_s = f"{statistics.median(hand):>9.2f}" if model_type != "gpt_oss" else f"{'(meta)':>9}"
        w, p = statistics.median(warm), statistics.median(peer)
        print(f"{name:<18}{statistics.median(cold):>9.2f}{w:>9.2f}{p:>9.2f}{w / p:>11.2f}{hand_s}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)

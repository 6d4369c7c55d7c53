"""The meta route's first read of an architecture (no cached spec), as whole processes, against the
peer: transformers' own meta build plus accelerate's ``compute_module_sizes`` (the bytes alone,
which is what a user would run by hand). Both import torch and transformers and build the same
model; the planner also measures the cache, the activation peaks and the head's phase with meta
forwards on one layer of each kind (planner/model/meta_kinds.py), so its overhead should not grow
with the depth. Medians of REPEATS runs side by side, and each process's own peak RSS.

Rows: Qwen3-Next-80B (transformers' default qwen3_next config: 48 layers, 512 experts, linear and
full attention), and transformers' default gpt_neox (GPT-NeoX-20B widths) at 64, 256 and 4,096
layers. "warm" is the same command again, reading the cached spec.

Usage: python benchmarks/meta_route_cold.py [REPEATS]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from cli_startup import run

PEER = """
import json, sys, torch
from accelerate.utils import compute_module_sizes
from transformers import AutoConfig, AutoModelForCausalLM
config = AutoConfig.for_model(**json.load(open(sys.argv[1])))
with torch.device("meta"):
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
print(compute_module_sizes(model)[""])
"""


def configs(folder: Path) -> dict[str, Path]:
    from transformers import AutoConfig

    rows = {"Qwen3-Next-80B (48 layers)": AutoConfig.for_model("qwen3_next").to_dict()}
    for depth in (64, 256, 4096):
        rows[f"gpt_neox, {depth:,} layers"] = AutoConfig.for_model("gpt_neox", num_hidden_layers=depth).to_dict()
    out = {}
    for i, (name, cfg) in enumerate(rows.items()):
        out[name] = folder / f"config{i}.json"
        out[name].write_text(json.dumps(cfg))
    return out


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    with tempfile.TemporaryDirectory() as tmp:
        paths = configs(Path(tmp))
        print(f"{'config':<28}{'cold s':>8}{'RSS MiB':>9}{'warm s':>8}{'peer s':>8}{'RSS MiB':>9}{'cold/peer':>11}")
        for name, path in paths.items():
            cold, warm, peer, rss, peer_rss = [], [], [], 0, 0
            for r in range(repeats):
                cache = Path(tmp) / f"cache-{path.stem}-{r}"
                os.environ["PLANNER_CACHE_DIR"] = str(cache)
                estimate = [sys.executable, "-m", "planner", "estimate", str(path)]
                seconds, mib = run(estimate)
                cold.append(seconds)
                rss = max(rss, mib)
                warm.append(run(estimate)[0])
                seconds, mib = run([sys.executable, "-c", PEER, str(path)])
                peer.append(seconds)
                peer_rss = max(peer_rss, mib)
            c, p = statistics.median(cold), statistics.median(peer)
            print(f"{name:<28}{c:>8.2f}{rss:>9}{statistics.median(warm):>8.2f}{p:>8.2f}{peer_rss:>9}{c / p:>10.2f}x")


if __name__ == "__main__":
    main()

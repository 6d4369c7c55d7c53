"""llama.cpp itself as the oracle: load a GGUF on the CPU through llama-cpp-python's low-level API
(no mmap, no repacked buffers, so every buffer is a plain allocation) and read back what it
reports: ``llama_model_size``, ``llama_model_n_params``, and the buffer sizes it logs for the model,
the KV cache, the output and the compute graph. Run in a child process (the library logs from C)."""

from __future__ import annotations

import json
import re
import subprocess
import sys

_SCRIPT = r"""
import ctypes, json, sys
import llama_cpp as L
args = json.loads(sys.argv[1])
lines = []
@L.llama_log_callback
def log(level, text, user):
    lines.append(text.decode("utf-8", "replace"))
L.llama_log_set(log, ctypes.c_void_p(0))
L.llama_backend_init()
mp = L.llama_model_default_params()
mp.n_gpu_layers = 0
mp.load_mode = L.LLAMA_LOAD_MODE_NONE
mp.use_extra_bufts = False
model = L.llama_model_load_from_file(args["path"].encode(), mp)
if not model:
    print(json.dumps({"error": "load failed", "log": "".join(lines)[-3000:]})); sys.exit(0)
cp = L.llama_context_default_params()
cp.n_ctx = args["n_ctx"]; cp.n_batch = args.get("n_batch", 2048); cp.n_ubatch = args.get("n_ubatch", 512)
cp.n_seq_max = args.get("n_seq", 1); cp.kv_unified = args.get("kv_unified", False)
cp.swa_full = args.get("swa_full", False)
cp.flash_attn_type = {"on": L.LLAMA_FLASH_ATTN_TYPE_ENABLED, "off": L.LLAMA_FLASH_ATTN_TYPE_DISABLED}[args.get("fa", "off")]
types = {"f16": 1, "f32": 0, "q8_0": 8, "q4_0": 2, "bf16": 30, "q5_0": 6, "q5_1": 7, "q4_1": 3, "iq4_nl": 20}
cp.type_k = types[args.get("ctk", "f16")]; cp.type_v = types[args.get("ctv", "f16")]
ctx = L.llama_init_from_model(model, cp)
out = {"model_size": L.llama_model_size(model), "n_params": L.llama_model_n_params(model),
       "context_ok": bool(ctx), "log": "".join(lines)}
print(json.dumps(out))
"""

MIB = 1024 * 1024
_BUFFER = re.compile(r"(\w+)\s+(model|KV|compute|output|RS) buffer size =\s+([\d.]+) MiB")
_CELLS = re.compile(r"llama_kv_cache: size =\s+([\d.]+) MiB \(\s*(\d+) cells,\s+(\d+) layers")


def run(path, n_ctx: int, python: str | None = None, **kw) -> dict:
    """What llama.cpp reports for ``path`` at ``n_ctx`` (keywords: n_ubatch, n_seq, kv_unified, swa_full, fa, ctk, ctv)."""
    proc = subprocess.run([python or sys.executable, "-c", _SCRIPT, json.dumps({"path": str(path), "n_ctx": n_ctx, **kw})],
                          capture_output=True, text=True, timeout=300)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    buffers: dict[tuple[str, str], float] = {}
    for dev, kind, mib in _BUFFER.findall(out.get("log", "")):
        buffers[(dev, kind)] = buffers.get((dev, kind), 0.0) + float(mib)
    out["buffers_mib"] = buffers
    out["kv_caches"] = [(float(m), int(c), int(n)) for m, c, n in _CELLS.findall(out.get("log", ""))]
    return out

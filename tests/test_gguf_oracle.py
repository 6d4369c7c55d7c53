"""The GGUF costs against llama.cpp itself (llama-cpp-python 0.3.36, built from source): for each
test file and context setting, llama.cpp's ``llama_model_size``, ``llama_model_n_params``, KV cells
and buffer, output buffer and compute buffer (CPU backend, no mmap, no repacking) against the
planner's figures. Sizes llama.cpp logs in MiB with two decimals are compared at that precision."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from gguf_files import write_mamba, write_model
from llamacpp_oracle import MIB, run

from planner.costs.llamacpp import LlamaCppContext, cells, compute_bytes, kv_bytes, output_buffer_bytes
from planner.model.gguf import load_gguf

pytestmark = pytest.mark.slow


def _python() -> str | None:
    for python in (os.environ.get("PLANNER_LLAMACPP_PYTHON"), sys.executable):
        if python and shutil.which(python) and subprocess.run([python, "-c", "import llama_cpp"],
                                                              capture_output=True).returncode == 0:
            return python
    return None


PYTHON = _python()
needs_llama = pytest.mark.skipif(PYTHON is None, reason="llama-cpp-python is not installed (pip install '.[test]')")

MODELS = {
    "dense": dict(),
    "wide-gqa": dict(n_embd=512, n_head=8, n_head_kv=8, n_ff=1536, vocab=2048),
    "big-vocab-tied": dict(vocab=32000, n_layer=2, tied=True, weight_type="Q8_0"),
    "moe": dict(experts=8, experts_used=2, n_ff=256, weight_type="Q5_K"),
    "swa": dict(arch="gemma3", sliding_window=512, n_layer=8, weight_type="Q4_0", context=32768),
    "split": dict(split_max_tensors=10, weight_type="IQ4_NL"),
    "mamba": dict(recurrent=True),
}
SETTINGS = {
    "fa-off": (4096, dict(fa="off")),
    "fa-on": (4096, dict(fa="on")),
    "two-seqs": (1000, dict(fa="off", n_seq=2)),
    "unified-q8": (3000, dict(fa="on", n_seq=3, kv_unified=True, ctk="q8_0", ctv="q8_0")),
    "long-small-ubatch": (8192, dict(fa="on", n_ubatch=256)),
}


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("oracle")
    out = {}
    for name, given in MODELS.items():
        kw = dict(given)
        folder = root / name
        folder.mkdir()
        writer = write_mamba if kw.pop("recurrent", False) else write_model
        out[name] = writer(folder / f"{name}.gguf", **kw)[0]
    return out


def _context(n_ctx: int, kw: dict) -> LlamaCppContext:
    return LlamaCppContext(n_ctx=n_ctx, n_seq=kw.get("n_seq", 1), kv_unified=kw.get("kv_unified", False),
                           type_k=kw.get("ctk", "f16"), type_v=kw.get("ctv", "f16"), flash_attn=kw["fa"] == "on",
                           n_ubatch=kw.get("n_ubatch", 512), swa_full=kw.get("swa_full", False))


@needs_llama
@pytest.mark.parametrize("setting", sorted(SETTINGS))
@pytest.mark.parametrize("name", sorted(MODELS))
def test_against_llama_cpp(model_files, name, setting):
    n_ctx, kw = SETTINGS[setting]
    kw = {**kw, "swa_full": False}
    path = model_files[name]
    report = run(path, n_ctx, python=PYTHON, **kw)
    assert report.get("context_ok"), report.get("log", "")[-2000:]
    model = load_gguf(str(path))
    ctx = _context(n_ctx, kw)
    assert report["model_size"] == model.tensor_bytes
    assert report["n_params"] == model.parameters
    buffers = report["buffers_mib"]
    assert buffers[("CPU", "model")] == pytest.approx(round(model.tensor_bytes / MIB, 2), abs=0.011)
    _, per_stream, _ = cells(model, ctx)
    state = buffers.get(("CPU", "KV"), 0.0) + buffers.get(("CPU", "RS"), 0.0)  # KV cache, recurrent state
    if report["kv_caches"]:
        assert max(c for _, c, _ in report["kv_caches"]) == per_stream
    assert state == pytest.approx(sum(kv_bytes(model, ctx)) / MIB, abs=0.011)
    assert buffers[("CPU", "output")] == pytest.approx(output_buffer_bytes(model, ctx) / MIB, abs=0.011)
    whole = compute_bytes(model, ctx).output
    real = buffers[("CPU", "compute")] * MIB
    assert real - 0.011 * MIB <= whole <= real * 1.15 + 0.02 * MIB, (whole / MIB, real / MIB)

"""Shared fixtures. Tests that need transformers/accelerate/torch import them via ``hf``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# meta-built specs are cached on disk; the suite keeps its own cache, never the user's
os.environ.setdefault("PLANNER_CACHE_DIR", tempfile.mkdtemp(prefix="planner-specs-"))
CATALOG_MODELS = sorted(p.stem for p in (ROOT / "catalogs" / "models").glob("*.json"))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the planner as a user would (a separate process), capturing output."""
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=cwd or ROOT)


def assert_input_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    """Bad input: exit 2, one line on stderr starting with Error:, no traceback, naming what is wrong."""
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in lines[0], r.stderr


def catalog_config(name: str) -> dict:
    return json.loads((ROOT / "catalogs" / "models" / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def hf():
    """transformers, accelerate and torch, or skip (they are the `hf` extra)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    accelerate = pytest.importorskip("accelerate")
    transformers.utils.logging.set_verbosity_error()
    return transformers, accelerate, torch

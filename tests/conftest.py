"""Shared fixtures. Tests that need transformers/accelerate/torch import them via ``hf``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CATALOG_MODELS = sorted(p.stem for p in (ROOT / "catalogs" / "models").glob("*.json"))


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the planner as a user would (a separate process), capturing output."""
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=cwd or ROOT)


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

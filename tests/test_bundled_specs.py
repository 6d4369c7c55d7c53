"""Every catalog model works on the core install (no transformers, no torch): the models of families
only the meta route reads ship their spec (model/bundled.py), kept equal to the meta route's build
under the installed transformers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import CATALOG_MODELS, ROOT

from planner.model.bundled import FOLDER, build, needs_bundle

BUNDLED = [n for n in CATALOG_MODELS if needs_bundle(n)]
CORE = ("import sys\n"
        "sys.modules['transformers'] = None; sys.modules['torch'] = None  # as on the core install\n"
        "from planner.cli.app import main\n"
        "sys.argv = ['planner', *sys.argv[1:]]\n"
        "main()\n")


def core(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CORE, *args], capture_output=True, text=True, cwd=ROOT)


def test_every_family_the_meta_route_reads_is_bundled():
    assert BUNDLED, "the catalog has a model only the meta route reads (gpt-oss-20b)"
    for name in BUNDLED:
        assert (ROOT / "catalogs" / FOLDER / f"{name}.json").is_file(), f"run python -m planner.model.bundled for {name}"


def test_catalog_models_and_estimate_work_without_transformers():
    r = core("catalog", "models", "--json")
    assert r.returncode == 0, r.stderr
    rows = {row["name"]: row for row in json.loads(r.stdout)}
    assert set(rows) == set(CATALOG_MODELS) and rows["gpt-oss-20b"]["parameters"] == 20_914_757_184
    r = core("estimate", "gpt-oss-20b", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["quant"]["scheme"] == "mxfp4"


@pytest.mark.hf
@pytest.mark.slow
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_spec_equals_the_meta_build(hf, name):
    """Regenerate with: python -m planner.model.bundled"""
    assert (ROOT / "catalogs" / FOLDER / f"{name}.json").read_text() == build(name)

"""Catalogs load from an editable checkout and from an installed wheel; --help stays light."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT

from planner.catalog import catalog_root, gpu_types, model_names


def test_catalog_from_checkout():
    assert catalog_root() == ROOT / "catalogs"
    assert len(gpu_types()) >= 15 and "Meta-Llama-3-8B" in model_names()


def test_catalog_from_installed_wheel(tmp_path):
    pytest.importorskip("hatchling")
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(wheel_dir.glob("planner-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "planner/catalogs/gpus.yaml" in names and "planner/catalogs/models/DeepSeek-R1.json" in names
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, capture_output=True)
    code = ("import planner.catalog as c, sys; r = c.catalog_root(); "
            "assert str(r).startswith(sys.argv[1]), r; print(len(c.gpu_types()), len(c.model_names()))")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)
    out = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    gpus, models = map(int, out.stdout.split())
    assert gpus >= 15 and models >= 13


def test_help_imports_nothing_heavy():
    code = ("import sys; sys.argv = ['planner', '--help']\n"
            "from planner.cli.app import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('ortools', 'networkx', 'torch', 'transformers', 'pydantic', 'yaml') if m in sys.modules]\n"
            "assert not heavy, heavy")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert "estimate" in r.stdout


def test_public_api_is_sorted():
    import planner

    assert planner.__all__ == sorted(planner.__all__)
    for name in planner.__all__:
        assert getattr(planner, name) is not None

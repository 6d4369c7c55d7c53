"""The CLI finds each answer's exporter by the answer's class name and imports that exporter alone:
every name in the table is a real class and every function a real one, and an estimate imports no
other answer's or exporter's module (they are what a start-up measured in benchmarks/cli_startup.py
used to pay for)."""

from __future__ import annotations

import importlib
import subprocess
import sys

from conftest import ROOT

from planner.cli.render import _RENDERERS


def test_every_renderer_names_real_classes_and_functions():
    for qualified, (exporter, as_json, as_table, _) in _RENDERERS.items():
        module, name = qualified.rsplit(".", 1)
        assert isinstance(getattr(importlib.import_module(module), name), type), qualified
        found = importlib.import_module(f"planner.export.{exporter}")
        assert callable(getattr(found, as_json)) and callable(getattr(found, as_table)), exporter


def test_an_estimate_imports_only_what_it_renders():
    code = ("import sys\nfrom planner.cli.app import main\nsys.argv = ['planner', 'estimate', 'Llama-3.1-70B', '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('planner.answers.llamacpp', 'planner.answers.llamacpp_size', 'planner.answers.compress',"
            " 'planner.export.plan_report', 'planner.model.meta_build', 'planner.model.gguf.model') if m in sys.modules],"
            " file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr
    assert '"weights_bytes"' in r.stdout

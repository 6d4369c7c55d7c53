"""What editors and shells are given: the JSON Schema (checked with the jsonschema package against
its dialect and every bundled file) and shell completion of commands, flags, model and GPU names."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, run_cli
from jsonschema import Draft202012Validator

from planner.catalog import gpu_types, model_names

FILES = sorted((ROOT / "examples").glob("*.yaml")) + sorted((ROOT / "examples" / "whatif").glob("*.yaml"))


@pytest.fixture(scope="module")
def schema():
    r = run_cli("schema")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    Draft202012Validator.check_schema(doc)
    return doc


def test_schema_names_its_dialect_and_id(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].startswith("urn:planner:schema:")


@pytest.mark.parametrize("path", [p for p in FILES if "cluster" not in p.name or "whatif" in str(p)], ids=lambda p: p.name)
def test_every_bundled_file_is_valid(schema, path):
    errors = list(Draft202012Validator(schema).iter_errors(yaml.safe_load(path.read_text())))
    assert not errors, [e.message for e in errors]


def test_names_are_offered_and_anything_else_still_valid(schema):
    validator = Draft202012Validator(schema)
    model = schema["properties"]["model"]["anyOf"][0]["enum"]
    gpus = schema["$defs"]["InventorySpec"]["properties"]["gpus"]["items"]["anyOf"][0]["enum"]
    assert set(model_names()) <= set(model) and {g.name for g in gpu_types()} <= set(gpus)
    for doc in ({"model": "./my-model/config.json", "inventory": {"gpus": ["2xA100-80GB", "24GiB"]}},
                {"model": "org/name:Q4_K_M", "inventory": {"gpus": ["RTX-A6000"]}}):
        assert not list(validator.iter_errors(doc))
    assert list(validator.iter_errors({"model": "x", "workloud": {}}))  # a typo is caught


def _complete(*words: str) -> list[str]:
    env = {**os.environ, "COMP_WORDS": " ".join(("planner", *words)), "COMP_CWORD": str(len(words)),
           "_PLANNER_COMPLETE": "bash_complete"}
    r = subprocess.run([sys.executable, "-m", "planner"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    return [line.split(",", 1)[1] for line in r.stdout.splitlines() if line.startswith("plain,")]


def test_shell_completes_commands_flags_models_and_gpus():
    assert "plan" in _complete("pl")
    assert "--objective" in _complete("plan", "x", "--obj")
    assert "Meta-Llama-3-8B" in _complete("estimate", "Meta-Ll")
    assert {"2xRTX-4090", "2xRTX-4080"} <= set(_complete("plan", "x", "--gpu", "2xRTX-40"))
    assert "RTX-A6000" in _complete("size", "x", "--gpu-type", "RTX-A")

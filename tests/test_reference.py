"""docs/cli.md and docs/yaml.md are generated; they must match the code."""

from __future__ import annotations

from conftest import ROOT

from planner.reference import cli_reference, yaml_reference


def test_cli_reference_is_current():
    assert (ROOT / "docs" / "cli.md").read_text() == cli_reference(), "run: python -m planner.reference docs"


def test_yaml_reference_is_current():
    assert (ROOT / "docs" / "yaml.md").read_text() == yaml_reference(), "run: python -m planner.reference docs"

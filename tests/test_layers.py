"""The house reads in the direction of the data: cli -> api -> requests -> answers -> (model,
costs, solvers) -> exporters format. Every import of every module (those inside functions too)
goes to its own layer or one below; an exporter may read the answer types it formats, but no
answer, solver or cost imports an exporter, the CLI or the API."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

LAYERS = (
    ("base", ("planner.units", "planner.errors", "planner.files", "planner.yaml_files", "planner.catalog", "planner.flags",
              "planner.objectives", "planner.recent")),
    ("core", ("planner.model", "planner.engines", "planner.costs", "planner.hardware", "planner.search", "planner.workload")),
    ("solvers", ("planner.placement", "planner.sizing")),
    ("requests", ("planner.scenario", "planner.requests", "planner.whatif.schema", "planner.whatif")),
    ("answers", ("planner.answers", "planner.whatif.run")),
    ("exporters", ("planner.export",)),
    ("api", ("planner.api",)),
    ("cli", ("planner.cli", "planner.reference", "planner.__main__")),
)


def _layer(module: str) -> int:
    best = None
    for rank, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or module.startswith(prefix + ".")
            if inside and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    assert best is not None, f"{module} belongs to no layer; add it to LAYERS"
    return best[0]


def _modules():
    for path in sorted((ROOT / "planner").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        if name != "planner":  # the package's lazy attribute table names the API
            yield name, path


def _imports(path: Path, module: str):
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("planner."))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if base.startswith("planner"):
                for a in node.names:  # ``from planner.answers import size`` imports the module planner.answers.size
                    yield f"{base}.{a.name}" if base.count(".") < 2 and a.name.islower() else base


def test_no_import_goes_up_a_layer():
    upward = []
    for module, path in _modules():
        own = _layer(module)
        for target in _imports(path, module):
            if target in ("planner", "planner.__init__"):
                continue
            if _layer(target) > own:
                upward.append(f"{module} ({LAYERS[own][0]}) imports {target} ({LAYERS[_layer(target)][0]})")
    assert not upward, "\n".join(upward)


def test_every_module_has_a_layer():
    for module, _ in _modules():
        _layer(module)


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    """A cost that imported the CLI lazily would be caught: the check reads imports in function bodies."""
    path = tmp_path / "fake.py"
    path.write_text("def f():\n    from planner.cli.app import cli\n    return cli\n")
    (target,) = _imports(path, "planner.costs.fake")
    assert _layer(target) > _layer("planner.costs.fake")

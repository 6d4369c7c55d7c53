"""Generate docs/cli.md from the click commands and docs/yaml.md from the what-if schema, so the
references cannot drift from the code (tests/test_reference.py regenerates and compares).

Usage: python -m planner.reference docs/
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _command_doc(name: str, cmd: click.Command) -> list[str]:
    out = [f"## `planner {name}`", "", (cmd.help or "").strip(), ""]
    cmd.get_params(click.Context(cmd))  # adds a settings command's generated flags (cli_settings)
    params = cmd.params
    args = [p for p in params if isinstance(p, click.Argument)]
    if args:
        out.append("Arguments: " + ", ".join(f"`{a.name.upper()}`" for a in args))
        out.append("")
    opts = [p for p in params if isinstance(p, click.Option)]
    if opts:
        out += ["| option | default | meaning |", "|---|---|---|"]
        for o in opts:
            flags = ", ".join(f"`{f}`" for f in o.opts)
            if isinstance(o.type, click.Choice):
                flags += " (" + "\\|".join(o.type.choices) + ")"
            unset = o.default is None or type(o.default).__name__ == "Sentinel"  # click 8.2+: no default given
            default = "" if unset or o.default in (False, ()) or o.is_flag else f"`{o.default}`"
            out.append(f"| {flags} | {default} | {(o.help or '').replace('|', '/')} |")
        out.append("")
    return out


def cli_reference() -> str:
    from planner.cli.app import cli

    out = ["# Command-line reference", "", "Generated from the click commands by `python -m planner.reference docs/`.", ""]
    ctx = click.Context(cli)
    for name in sorted(cli.list_commands(ctx)):
        cmd = cli.get_command(ctx, name)
        if isinstance(cmd, click.Group):
            for sub in sorted(cmd.list_commands(ctx)):
                out += _command_doc(f"{name} {sub}", cmd.get_command(ctx, sub))
        else:
            out += _command_doc(name, cmd)
    from planner.errors import EXIT_STATUSES

    out += ["## Exit status", "", "| status | meaning |", "|---|---|"]
    pipe = "\\|"  # a literal | inside a Markdown table cell
    out += [f"| {code} | {text.replace('|', pipe)} |" for code, text in EXIT_STATUSES]
    return "\n".join(out).rstrip() + "\n"


def _fields(model, prefix: str, out: list[str]) -> None:
    from planner.whatif.schema import fields_of

    for name, info in fields_of(model).items():
        kind = info.annotation
        nested = fields_of(kind) is not None
        type_name = "mapping" if nested else str(kind).replace("typing.", "").replace("<class '", "").replace("'>", "")
        type_name = type_name.replace("|", "or")
        default = "" if info.is_required() else ("" if nested else f"`{info.default!r}`")
        desc = (info.description or "").replace("\n", " ").replace("|", "/")
        out.append(f"| `{prefix}{name}` | {type_name} | {default} | {desc} |")
        if nested:
            _fields(kind, f"{prefix}{name}.", out)


def yaml_reference() -> str:
    from planner.whatif.schema import WhatIf

    out = ["# YAML reference", "", "Generated from the schema by `python -m planner.reference docs/`. `planner plan --file` "
           "reads the same keys except `task`, `size`, `sweep`, `include` and `exclude`; `planner schema` prints the JSON "
           "Schema for editors. Unknown keys are errors.", "", "| key | type | default | meaning |", "|---|---|---|---|"]
    _fields(WhatIf, "", out)
    out += ["", "A sweep key is a dotted path of this table (`workload.prompt_tokens`, `inventory.gpus`, `size.gpu_types`); "
            "every combination of the listed values is one point."]
    return "\n".join(out) + "\n"


def main(folder: str) -> None:
    from planner.files import write_atomic

    write_atomic(Path(folder) / "cli.md", cli_reference())
    write_atomic(Path(folder) / "yaml.md", yaml_reference())


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs")

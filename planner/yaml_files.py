"""Read a YAML file into a strict pydantic model, with one-line errors that name the file, the
line (for syntax errors) and the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from planner.errors import InputError

M = TypeVar("M", bound=BaseModel)


def validation_where(err: ValidationError) -> str:
    first = err.errors()[0]
    field = ".".join(str(x) for x in first.get("loc", ())) or "file"
    if first.get("type") == "extra_forbidden":
        return f"{field}: unknown key"
    msg = first.get("msg", "invalid value").removeprefix("Value error, ")
    return f"{field}: {msg} (got {first.get('input')!r})"


def read_model(path: str | Path, model: type[M], expected: str) -> M:
    """``expected`` names the top-level keys, for the error when the file is not a mapping."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise InputError(f"file: {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"file: cannot read {path}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}{where}: not valid YAML ({getattr(e, 'problem', None) or e})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping with {expected} keys")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise InputError(f"{path}: {validation_where(e)}") from None

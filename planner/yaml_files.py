"""Read a YAML file into a strict pydantic model, with one-line errors that name the file, the
line (for syntax errors) and the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from planner.errors import InputError

M = TypeVar("M", bound=BaseModel)


def _allowed(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the (nested) model that holds the key at ``loc``."""
    for key in loc[:-1]:
        if model is None:
            return []
        info = model.model_fields.get(str(key))
        kind = info.annotation if info else None
        model = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
    return list(model.model_fields) if model is not None else []


def validation_where(err: ValidationError, model: type[BaseModel] | None = None) -> str:
    first = err.errors()[0]
    loc = tuple(first.get("loc", ()))
    field = ".".join(str(x) for x in loc) or "file"
    if first.get("type") == "extra_forbidden":
        import difflib

        close = difflib.get_close_matches(str(loc[-1]), _allowed(model, loc), n=2) if loc else []
        return f"{field}: unknown key" + (f"; did you mean {', '.join(close)}?" if close else "")
    msg = first.get("msg", "invalid value").removeprefix("Value error, ")
    return f"{field}: {msg} (got {first.get('input')!r})"


def line_of(text: str, loc: tuple) -> int | None:
    """1-based line of the YAML node at ``loc`` (keys and list indices), or of its nearest parent."""
    import yaml

    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == str(key)), None)
            if match is None:
                break
            line = match[0].start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            break
    return line


def read_yaml(path: str | Path, expected: str) -> tuple[dict, str]:
    """The mapping in a YAML file and its text (for line numbers)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
        raw = yaml.safe_load(text)
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
    return raw, text


def validate(path: str | Path, model: type[M], raw: dict, text: str) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        line = line_of(text, tuple(e.errors()[0].get("loc", ())))
        raise InputError(f"{path}{f' line {line}' if line else ''}: {validation_where(e, model)}") from None


def read_model(path: str | Path, model: type[M], expected: str) -> M:
    """``expected`` names the top-level keys, for the error when the file is not a mapping."""
    raw, text = read_yaml(path, expected)
    return validate(path, model, raw, text)

"""Read a YAML file into a strict pydantic model, with one-line errors that name the file, the
line (for syntax errors) and the field."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from planner.errors import InputError
from planner.files import read_text

M = TypeVar("M", bound=BaseModel)
MAX_YAML_BYTES = 1 << 20
"""Largest YAML file read (scenarios and sweeps are a few hundred bytes)."""
MAX_YAML_VALUES = 100_000
"""Most values a YAML file may expand to, counting every use of an anchor (a "billion laughs"
file of a few hundred bytes expands to 10^9 and would take minutes and gigabytes)."""
MAX_ECHO = 120
"""Longest echo of a bad value in an error line."""


def echo(value) -> str:
    """A bad value as an error line shows it: its repr, cut to MAX_ECHO characters."""
    text = repr(value)
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + f"... ({len(text):,} characters)"


def _expanded_size(node, memo: dict[int, int], depth: int = 0, path: Path | None = None) -> int:
    """Values the node stands for once every alias is expanded (aliases share one node object)."""
    import yaml

    if id(node) in memo:
        return memo[id(node)]
    if depth > 100:
        raise InputError(f"file: {path or 'YAML'} nests more than 100 levels deep")
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, depth + 1, path) + _expanded_size(v, memo, depth + 1, path) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo, depth + 1, path) for v in node.value)
    else:
        size = 1
    memo[id(node)] = size
    return size


def _allowed(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """Field names of the (nested) model that holds the key at ``loc``."""
    for key in loc[:-1]:
        if model is None:
            return []
        info = model.model_fields.get(str(key))
        kind = info.annotation if info else None
        model = kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None
    return list(model.model_fields) if model is not None else []


def validation_where(err: ValidationError, model: type[BaseModel] | None = None, name=None, default: str = "file") -> str:
    """The one line every pydantic error becomes (files, flags, API arguments): the field, the
    problem and the value given; ``name`` maps the error's location to what the user typed (a flag,
    an argument), else the dotted path; an unknown key gets the closest known names."""
    first = err.errors()[0]
    loc = tuple(first.get("loc", ()))
    field = (name(loc) if name is not None else ".".join(str(x) for x in loc)) or default
    if first.get("type") == "extra_forbidden":
        import difflib

        close = difflib.get_close_matches(str(loc[-1]), _allowed(model, loc), n=2) if loc else []
        return f"{field}: unknown key" + (f"; did you mean {', '.join(close)}?" if close else "")
    msg = first.get("msg", "invalid value").removeprefix("Value error, ")
    return f"{field}: {msg} (got {echo(first.get('input'))})"


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


def _unique_key_loader():
    """PyYAML's SafeLoader, except that a key given twice in one mapping is an error (PyYAML keeps
    the last silently, so a second ``model:`` would replace the first unseen)."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # ``<<: *base``: merged keys may be overridden by the mapping's own
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, list | dict):
                    continue  # unhashable: PyYAML reports it below
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {echo(key)} is given twice in one mapping; keep one", key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader


def read_yaml(path: str | Path, expected: str) -> tuple[dict, str]:
    """The mapping in a YAML file and its text (for line numbers)."""
    import yaml

    path = Path(path)
    try:
        text = read_text(path, MAX_YAML_BYTES, "file")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}, path=path) > MAX_YAML_VALUES:
            aliases = " (every use of an anchor counts)" if "*" in text else ""
            raise InputError(f"file: {path} holds more than {MAX_YAML_VALUES:,} values{aliases}; no scenario needs "
                             "so many: split the sweep")
        raw = yaml.load(text, Loader=_unique_key_loader())  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = " ".join(str(getattr(e, "problem", None) or e).split())  # PyYAML's messages span lines
        raise InputError(f"{path}{where}: not valid YAML ({problem})") from None
    except ValueError as e:  # a tag the value does not fit (!!int 1.5), or an integer of thousands of digits
        why = "a number has more than 4,300 digits" if "digits" in str(e) else " ".join(str(e).split())[:200]
        raise InputError(f"{path}: not valid YAML ({why})") from None
    except RecursionError:
        raise InputError(f"{path}: nests too deeply to read") from None
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

"""The what-if file: a scenario (model, workload, inventory, objective, pins) plus the task each
point runs and a ``sweep:`` (or ``matrix:``) over any field, with ``include``/``exclude`` rows.

    model: Meta-Llama-3-8B
    task: plan                       # plan (device_map), size (GPUs to buy) or estimate
    inventory: {gpus: [RTX4090], cpu: 64GiB}
    sweep:
      workload.quant: [none, int8, nf4]
      workload.prompt_tokens: [2048, 8192]
      inventory.gpus: [[RTX4090], [2xRTX4090]]
    exclude:
      - {workload.quant: none, inventory.gpus: [RTX4090]}
"""

from __future__ import annotations

import copy
import difflib
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, field_validator

from planner.costs.training import TrainingSetup
from planner.errors import InputError
from planner.requests import DEFAULT_MAX_POINTS, SizeSpec
from planner.scenario import InventorySpec, Scenario
from planner.yaml_files import line_of, read_yaml, validate


class WhatIf(Scenario):
    task: Literal["plan", "size", "estimate", "training"] = "plan"
    """What each point computes: a placement on the inventory, GPUs to buy, the inference memory
    alone, or training memory per GPU (fits against the inventory's first GPU)."""
    training: TrainingSetup = TrainingSetup()
    """Settings of task: training (the micro-batch is workload.batch)."""
    inventory: InventorySpec = InventorySpec()
    """GPUs, CPU RAM and disk the model may use (task plan)."""
    size: SizeSpec = SizeSpec()
    """Settings of task: size."""
    sweep: dict[str, list[Any]] = {}
    """Field path -> values; every combination is a point (``matrix`` is a synonym)."""
    include: list[dict[str, Any]] = []
    """Extra points: field path -> value, applied to the base scenario."""
    exclude: list[dict[str, Any]] = []
    """Points matching every field path -> value of an entry are dropped."""

    @field_validator("training", mode="before")
    @classmethod
    def _training_from_mapping(cls, value: Any) -> Any:
        """A ``training:`` mapping as a TrainingSetup (strict mode takes only instances of a
        dataclass field); its fields are checked strictly by the dataclass itself."""
        if not isinstance(value, dict):
            return value
        if "micro_batch" in value:
            raise ValueError("micro_batch is workload.batch; set that instead")
        try:
            return TrainingSetup(**value)
        except ValidationError as e:
            from planner.yaml_files import validation_where

            raise ValueError(validation_where(e)) from None
        except TypeError as e:
            raise ValueError(str(e)) from None


SWEEP_KEYS = ("sweep", "include", "exclude")


@dataclass(frozen=True)
class Point:
    index: int
    axes: dict[str, Any]
    scenario: WhatIf
    file: str = ""
    where: tuple = ()
    """The YAML path of the point's axis (its line is looked up only for an error)."""

    @property
    def origin(self) -> str:
        """Where the point comes from, for its errors: the file, the line of its axis, its values."""
        line = None
        if self.axes and self.file:
            try:
                line = line_of(Path(self.file).read_text(), self.where)
            except (OSError, UnicodeDecodeError):
                line = None
        return f"{self.file}{f' line {line}' if line else ''}: point {self.index} ({_label(self.axes)})"


def fields_of(kind) -> dict | None:
    """The pydantic fields of a model or pydantic dataclass, None for any other type."""
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return kind.model_fields
    return getattr(kind, "__pydantic_fields__", None) if isinstance(kind, type) else None


def field_paths(model: type[BaseModel] = WhatIf, prefix: str = "") -> list[str]:
    """Every dotted path a sweep may set."""
    out = []
    for name, info in fields_of(model).items():
        if name in SWEEP_KEYS:
            continue
        path = f"{prefix}{name}"
        out.append(path)
        if fields_of(info.annotation) is not None:
            out += field_paths(info.annotation, f"{path}.")
    return out


def _set(raw: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    node = raw
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise InputError(f"sweep: {path} goes through {part}, which is not a mapping")
    node[parts[-1]] = copy.deepcopy(value)


def _check_path(path: str, where: str, text: str, file: Path, loc: tuple) -> None:
    paths = field_paths()
    if path not in paths:
        close = difflib.get_close_matches(path, paths, n=2)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; fields: {', '.join(p for p in paths if '.' not in p)}"
        line = line_of(text, loc)
        raise InputError(f"{file}{f' line {line}' if line else ''}: {where}: unknown field {path!r}{hint}")


def load_whatif(path: str | Path, max_points: int = DEFAULT_MAX_POINTS) -> list[Point]:
    """Every point of the file, validated; errors name the file, the line and the field."""
    file = Path(path)
    raw, text = read_yaml(file, "model, workload, inventory and sweep")
    if "matrix" in raw:
        if "sweep" in raw:
            raise InputError(f"{file} line {line_of(text, ('matrix',))}: give sweep or matrix, not both")
        raw["sweep"] = raw.pop("matrix")
    base = validate(file, WhatIf, raw, text)
    _check_axes(base, file, text)
    count = 1
    for values in base.sweep.values():
        count *= len(values)
    count += len(base.include)
    if count > max_points:
        sizes = " x ".join(str(len(v)) for v in base.sweep.values())
        raise InputError(f"{file} line {line_of(text, ('sweep',))}: sweep: {sizes} = {count:,} points, more than the limit "
                         f"of {max_points:,}; narrow an axis or raise --max-points")
    plain = {k: v for k, v in raw.items() if k not in SWEEP_KEYS}
    combos = [dict(zip(base.sweep, values, strict=True)) for values in itertools.product(*base.sweep.values())]
    combos = [c for c in combos if not any(all(c.get(k, _get(plain, k)) == v for k, v in ex.items()) for ex in base.exclude)]
    combos += [dict(row) for row in base.include]
    if not combos:
        raise InputError(f"{file}: exclude removes every point of the sweep; nothing to run")
    return [_point(index, axes, plain, base, file, text) for index, axes in enumerate(combos)]


def _check_axes(base: WhatIf, file: Path, text: str) -> None:
    """Every swept, included or excluded path exists, and every sweep axis has values."""
    for axis, values in base.sweep.items():
        _check_path(axis, "sweep", text, file, ("sweep", axis))
        if not values:
            raise InputError(f"{file} line {line_of(text, ('sweep', axis))}: sweep.{axis}: no values; give at least one")
    for key in ("include", "exclude"):
        for k, row in enumerate(getattr(base, key)):
            for axis in row:
                _check_path(axis, f"{key}[{k}]", text, file, (key, k, axis))


def _point(index: int, axes: dict, plain: dict, base: WhatIf, file: Path, text: str) -> Point:
    """One point: the base scenario with ``axes`` set, validated, its paths resolved beside the file."""
    from planner.scenario import model_beside

    data = copy.deepcopy(plain)
    for axis, value in axes.items():
        _set(data, axis, value)
    where = next((("sweep", a) for a in axes if a in base.sweep), ("include",))
    try:
        scenario = WhatIf.model_validate(data)
    except Exception as e:  # pydantic ValidationError: name the axis whose value broke it
        from planner.yaml_files import validation_where

        line = line_of(text, where)
        detail = validation_where(e) if hasattr(e, "errors") else str(e)
        raise InputError(f"{file}{f' line {line}' if line else ''}: point {index} ({_label(axes)}): {detail}") from None
    model = model_beside(scenario.model, file.parent)
    if model != scenario.model:
        scenario = scenario.model_copy(update={"model": model})
    if scenario.size.cluster and not Path(scenario.size.cluster).is_absolute():
        size = scenario.size.model_copy(update={"cluster": str(file.parent / scenario.size.cluster)})
        scenario = scenario.model_copy(update={"size": size})
    return Point(index, axes, scenario, str(file), where)


def request_of(sc: WhatIf):
    """The request a point asks: task plan -> PlanRequest; size -> SizeRequest; estimate and
    training -> EstimateRequest (training's micro-batch is the workload's batch)."""
    from dataclasses import replace

    from planner.requests import EstimateRequest, PlanRequest, SizeRequest

    if sc.task == "plan":
        return PlanRequest(**{k: getattr(sc, k) for k in PlanRequest.model_fields if k != "revision"})
    if sc.task == "size":
        return SizeRequest(model=sc.model, workload=sc.workload, seq_len=sc.training.seq_len, size=sc.size,
                           time_limit_s=sc.time_limit_s, training=sc.training, with_accelerate=False, compare_rental=False)
    if sc.task == "training":
        w = sc.workload.model_copy(update={"mode": "training"})
        return EstimateRequest(model=sc.model, workload=w, seq_len=sc.training.seq_len,
                               training=replace(sc.training, micro_batch=w.batch))
    return EstimateRequest(model=sc.model, workload=sc.workload)


def _get(raw: dict, path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _label(axes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in axes.items()) or "base scenario"

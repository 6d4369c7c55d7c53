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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from planner.costs.training import TrainingSetup
from planner.errors import InputError
from planner.hardware.prices import DEFAULT_ELECTRICITY_USD_PER_KWH, DEFAULT_YEARS
from planner.scenario import InventorySpec, Scenario
from planner.yaml_files import echo, line_of, read_yaml, validate

DEFAULT_MAX_POINTS = 10_000


class SizeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    context: int | None = Field(None, ge=1)
    """max-model-len in tokens (default: the workload's prompt + new tokens)."""
    concurrency: int | None = Field(None, ge=1)
    """Sequences served at once at full context (default: the workload's batch)."""
    gpu_types: list[str] = []
    """Candidate GPU types (default: the whole catalog)."""
    objective: Literal["price", "hourly", "gpus", "tco"] = "price"
    """Minimise the purchase price of hosts and GPUs, the hourly price of instances, the GPU count, or the
    total cost (purchase plus power over ``years`` at ``electricity_usd_per_kwh``)."""
    max_gpus: int = Field(64, ge=1)
    """Most GPUs in an answer."""
    gpus_per_node: int = Field(8, ge=1)
    """GPUs per machine; tensor parallel groups stay inside one."""
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    """vLLM's share of each GPU."""
    target_tokens_per_s: float | None = Field(None, gt=0)
    """Decode throughput (tokens/s) the answer must reach."""
    max_power_w: float | None = Field(None, gt=0)
    """Most power the answer may draw at load, in W."""
    max_hosts: int | None = Field(None, ge=1)
    """Most hosts (or instances) in the answer."""
    max_rack_units: int | None = Field(None, ge=1)
    """Most rack units the hosts may take."""
    electricity_usd_per_kwh: float = Field(DEFAULT_ELECTRICITY_USD_PER_KWH, ge=0, le=100)
    """Electricity price for the total cost (default: US commercial average 2024, EIA)."""
    years: float = Field(DEFAULT_YEARS, gt=0, le=100)
    """Horizon of the total cost (objective: tco)."""
    pue: float = Field(1.0, ge=1, le=5)
    """Power usage effectiveness of the site (facility over IT power)."""
    prices: dict[str, str | float] = {}
    """Your prices per GPU type, replacing the catalog's: {H100: 2.10/h, L40S: 8000}."""
    cluster: str | None = None
    """A cluster YAML of machines you have (path relative to this file): instead of choosing GPUs
    to buy, find the best vLLM pipeline over those machines."""


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
            first = e.errors()[0]
            where = ".".join(str(x) for x in first.get("loc", ()))
            raise ValueError(f"{where}: {first.get('msg', 'invalid value')}, got {echo(first.get('input'))}") from None
        except TypeError as e:
            raise ValueError(str(e)) from None


SWEEP_KEYS = ("sweep", "include", "exclude")


@dataclass(frozen=True)
class Point:
    index: int
    axes: dict[str, Any]
    scenario: WhatIf


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
    _preflight(scenario, file, text, where, index, axes)
    return Point(index, axes, scenario)


def _preflight(scenario: WhatIf, file: Path, text: str, where: tuple, index: int, axes: dict) -> None:
    from planner.errors import PlannerError
    from planner.whatif.run import preflight

    try:
        preflight(scenario)
    except PlannerError as e:
        line = line_of(text, where) if axes else None
        raise InputError(f"{file}{f' line {line}' if line else ''}: point {index} ({_label(axes)}): {e}") from None


def _get(raw: dict, path: str) -> Any:
    node: Any = raw
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _label(axes: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in axes.items()) or "base scenario"

"""One request model per question, the only way a question reaches ``planner.answers``: the CLI
builds them from flags, the what-if runner from each point of a file, the Python API from its
arguments. Frozen pydantic models: an invalid value fails naming its field, before anything runs.

- ``EstimateRequest``: the exact memory of a model for inference, training or compression, and
  what the GPU types named need;
- ``PlanRequest``: the optimal device_map on an inventory (a plan scenario file, plus a revision);
- ``SizeRequest``: GPUs to buy or rent for serving, training or compression; what GPUs one has can
  serve (``size.have``); the best pipeline over machines one has (``size.cluster``);
- ``WhatIfRequest``: every point of a what-if file.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from planner.costs.compression import CompressionSetup
from planner.costs.training import TrainingSetup
from planner.flags import SHARED_FIELDS, flag_of
from planner.hardware.prices import DEFAULT_ELECTRICITY_USD_PER_KWH, DEFAULT_YEARS
from planner.objectives import SizeObjective
from planner.scenario import Scenario
from planner.workload import MAX_BATCH, MAX_TOKENS, Workload

SETTINGS = {"training": TrainingSetup, "compression": CompressionSetup}
_FROZEN = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)
DEFAULT_MAX_POINTS = 10_000


class SizeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    context: int | None = Field(None, ge=1, le=MAX_TOKENS)
    """max-model-len in tokens (default: the workload's prompt + new tokens)."""
    concurrency: int | None = Field(None, ge=1, le=MAX_BATCH)
    """Sequences served at once at full context (default: the workload's batch)."""
    gpu_types: list[str] = []
    """Candidate GPU types (default: the whole catalog)."""
    objective: SizeObjective = "price"
    """Minimise the purchase price of hosts and GPUs, the hourly price of instances, the GPU count, or the
    total cost (purchase plus power over ``years`` at ``electricity_usd_per_kwh``)."""
    max_gpus: int = Field(64, ge=1, le=1_000_000)
    """Most GPUs in an answer."""
    gpus_per_node: int = Field(8, ge=1, le=1024)
    """GPUs per machine; tensor parallel groups stay inside one."""
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    """vLLM's share of each GPU."""
    target_tokens_per_s: float | None = Field(None, gt=0, le=1e12)
    """Decode throughput (tokens/s) the answer must reach."""
    max_power_w: float | None = Field(None, gt=0, lt=1e12)
    """Most power the answer may draw at load, in W."""
    max_hosts: int | None = Field(None, ge=1, le=1_000_000)
    """Most hosts (or instances) in the answer."""
    max_rack_units: int | None = Field(None, ge=1, le=1_000_000)
    """Most rack units the hosts may take."""
    electricity_usd_per_kwh: float = Field(DEFAULT_ELECTRICITY_USD_PER_KWH, ge=0, le=100)
    """Electricity price for the total cost (default: US commercial average 2024, EIA)."""
    years: float = Field(DEFAULT_YEARS, gt=0, le=100)
    """Horizon of the total cost (objective: tco)."""
    pue: float = Field(1.0, ge=1, le=5)
    """Power usage effectiveness of the site (facility over IT power)."""
    prices: dict[str, str | float] | list[str] = {}
    """Your prices per GPU type, replacing the catalog's: {H100: 2.10/h, L40S: 8000} (or a list of TYPE=PRICE)."""
    have: str | None = None
    """GPUs you already have, e.g. 8xH100: what they serve per precision instead of sizing a purchase."""
    buy_more: bool = False
    """With ``have``: size what to add to the GPUs you have (they cost nothing)."""
    max_latency_ms: float | None = Field(None, gt=0, le=1e9)
    """Longest roofline time between two tokens of a sequence, in ms."""
    cluster: str | None = None
    """A cluster YAML of machines you have (path relative to this file): instead of choosing GPUs
    to buy, find the best vLLM pipeline over those machines."""


class _ModelRequest(BaseModel):
    model_config = _FROZEN

    model: str = Field(min_length=1, max_length=1024)
    """Catalog name, Hub repo id (``org/name`` or ``org/name@revision``), config.json, or safetensors file or folder."""
    revision: str | None = Field(None, min_length=1, max_length=256)
    """Hub branch, tag or commit when ``model`` is a repo id."""
    workload: Workload = Workload()
    """Precision, quantization, batch, tokens, KV dtype, attention, engine and mode (inference, training, compression)."""
    seq_len: int = Field(2048, ge=1, le=MAX_TOKENS)
    """Tokens per sequence of a training step or of each calibration sample (modes training, compression)."""
    training: TrainingSetup = TrainingSetup()
    """Settings of mode training (its micro-batch is ``workload.batch``, its sequence ``seq_len``)."""
    compression: CompressionSetup = CompressionSetup()
    """Settings of mode compression (its sequence is ``seq_len``)."""


class EstimateRequest(_ModelRequest):
    """``planner estimate``: exact memory; with ``gpus``, how many of each type it needs (inference),
    the fewest to train on, or the compression settings that fit."""

    gpus: tuple[str, ...] = Field((), strict=False)
    """Catalog GPU types to size against, e.g. ("H100", "RTX4090")."""


class PlanRequest(Scenario):
    """``planner plan``: a plan scenario (model, workload, inventory, objective, pins) and a revision."""

    revision: str | None = Field(None, min_length=1, max_length=256)
    """Hub branch, tag or commit when ``model`` is a repo id."""


class SizeRequest(_ModelRequest):
    """``planner size``: what to buy or rent (serving with vLLM, training, compression), what GPUs
    one has serve (``size.have``), or the best pipeline over machines one has (``size.cluster``)."""

    size: SizeSpec = SizeSpec()
    """Context, concurrency, candidates, objective and limits."""
    time_limit_s: float = Field(1.0, gt=0, le=600)
    """Solver time limit in seconds (CP-SAT's deterministic time)."""
    with_accelerate: bool = True
    """Also plan transformers + accelerate's device_map on each chosen host (what the JSON carries)."""
    compare_rental: bool = True
    """For a purchase, also size the cheapest rental of the same load (the bill's break-even)."""


class WhatIfRequest(BaseModel):
    """``planner whatif``: every point of a what-if file."""

    model_config = _FROZEN

    file: str = Field(min_length=1, max_length=4096)
    """The what-if YAML file (a scenario with a sweep)."""
    jobs: int | None = Field(None, ge=1, le=256)
    """Processes to run points in (default: CPU cores, at most 8)."""
    max_points: int = Field(DEFAULT_MAX_POINTS, ge=1, le=1_000_000)
    """Refuse sweeps larger than this."""


def settings_class(mode: str):
    return SETTINGS[mode]


def settings_params(mode: str) -> tuple[str, ...]:
    """The parameter names of a mode's own settings (the CLI's generated flags, the API's keywords)."""
    return tuple(flag_of(n)[1] for n in SETTINGS[mode].__pydantic_fields__ if n not in SHARED_FIELDS)


def settings_from_params(mode: str, params: dict, **shared):
    """The mode's settings from flat parameters (``None``: the field's default), plus ``shared``
    fields such as micro_batch and seq_len; an InputError naming the flag."""
    from dataclasses import fields

    from pydantic import ValidationError

    from planner.errors import InputError
    from planner.yaml_files import validation_where

    cls = SETTINGS[mode]
    names = {f.name for f in fields(cls)}
    values = {f: params[flag_of(f)[1]] for f in names - set(SHARED_FIELDS) if params.get(flag_of(f)[1]) is not None}
    if isinstance(values.get("lora_targets"), str):
        values["lora_targets"] = tuple(x.strip() for x in values["lora_targets"].split(",") if x.strip())
    values.update({k: v for k, v in shared.items() if k in names})
    try:
        return cls(**values)
    except ValidationError as e:
        raise InputError(validation_where(e, name=lambda loc: flag_of(str(loc[0]))[0].lstrip("-") if loc else "",
                                          default="input")) from None

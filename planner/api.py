"""The Python API: one function per CLI command, with the command's parameters and defaults
(``tests/test_api.py`` walks the click commands and checks it). Each builds the question's request
from what a user types (GPU names with counts, byte sizes, prices, a scenario file) and returns the
typed answer of ``planner.answers.answer``; the CLI calls the same request builders and only
renders. Settings of ``mode="training"`` and ``mode="compression"`` are keyword arguments named as
their flags (``zero=3``, ``num_gpus=8``, ``algorithm="awq"``: ``planner.requests.settings_params``).

    import planner
    plan = planner.plan("Llama-3.1-70B", gpus=["RTX4090", "RTX3090"], cpu="128GiB", batch=2, prompt_tokens=4096)
    plan.device_map                       # ready for from_pretrained(device_map=...)
    planner.size("Llama-3.1-70B", context=32768, concurrency=16).bill
"""

from __future__ import annotations

import inspect
from typing import Any

from planner.hardware.prices import DEFAULT_ELECTRICITY_USD_PER_KWH, DEFAULT_YEARS

_WORKLOAD = ("dtype", "quant", "group_size", "double_quant", "batch", "prompt_tokens", "new_tokens", "kv_dtype",
             "attn_implementation", "logits", "engine", "images")
_SHOWN = {"attn_implementation": "attn", "electricity_usd_per_kwh": "electricity", "max_power_w": "max-power",
          "gpu_types": "gpu-type", "gpus": "gpu", "time_limit_s": "time-limit", "cluster": "cluster", "prices": "price",
          "pins": "pin", "disk_gb_per_s": "disk-gb-per-s"}


def _name(loc: tuple) -> str:
    """A request field's location as the flag (and argument) a user typed: size.gpu_memory_utilization -> gpu-memory-utilization."""
    parts = [str(x) for x in loc if not isinstance(x, int)]
    if parts and parts[0] in ("size", "workload", "inventory"):
        parts = parts[1:]
    leaf = parts[0] if parts else ""
    return _SHOWN.get(leaf, leaf.replace("_", "-"))


def _many(value):
    """A repeatable parameter as the CLI gets it: one string is one value (``gpus="RTX4090"``), a
    mapping stays a mapping (``prices={"H100": "2.10/h"}``), anything else a tuple."""
    from collections.abc import Mapping

    if value is None:
        return ()
    if isinstance(value, str | Mapping):
        return value if isinstance(value, Mapping) else (value,)
    return tuple(value)


def _prices(value):
    value = _many(value)
    return value if isinstance(value, dict) else list(value)


def _build(cls, **fields):
    """A request, or an InputError naming the flag of the first invalid field."""
    from pydantic import ValidationError

    from planner.errors import InputError
    from planner.yaml_files import validation_where

    try:
        return cls(**fields)
    except ValidationError as e:
        raise InputError(validation_where(e, name=_name, default="input")) from None


def _workload(mode: str, fields: dict, base=None):
    """A Workload (``base`` with ``fields`` replaced), or an InputError naming the flag."""
    from planner.workload import Workload

    if base is not None:
        return _build(Workload, **{**base.model_dump(), **fields})
    return _build(Workload, mode=mode, **fields)


def parse_islands(value) -> list[list[int]] | None:
    """``"0,2;1,3"`` (or [[0, 2], [1, 3]]) as the GPU islands of an inventory."""
    from planner.errors import InputError

    if value is None or not isinstance(value, str):
        return value
    try:
        out = [[int(g) for g in part.split(",") if g.strip()] for part in value.split(";") if part.strip()]
    except ValueError:
        out = None
    if not out:
        raise InputError(f"islands: {value[:80]!r} is not GPU indices; write e.g. --islands '0,2;1,3'")
    return out


def parse_pins(values) -> dict[str, str]:
    """``("model.visual=0", "lm_head=cpu")`` as {module prefix: device}, each module once."""
    from planner.errors import InputError

    out: dict[str, str] = {}
    for text in values:
        prefix, sep, device = str(text).partition("=")
        if not sep or not prefix.strip() or not device.strip():
            raise InputError(f"pin: {text!r} is not MODULE=DEVICE; write e.g. --pin model.visual=0 or --pin lm_head=cpu")
        if prefix.strip() in out and out[prefix.strip()] != device.strip():
            raise InputError(f"pin: {prefix.strip()} is pinned twice ({out[prefix.strip()]} and {device.strip()}); keep one")
        out[prefix.strip()] = device.strip()
    return out


def _settings(mode: str, settings: dict, **shared) -> dict:
    """{"training": TrainingSetup, "compression": CompressionSetup} from the settings keywords; an
    unknown keyword is refused naming the known ones."""
    from planner.errors import InputError
    from planner.requests import settings_from_params, settings_params

    known = set(settings_params("training")) | set(settings_params("compression")) | {"gpus_per_node"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise InputError(f"{unknown[0]}: not a parameter; the training and compression settings are "
                         f"{', '.join(sorted(known))}")
    _check_mode(mode, settings)
    out = {}
    if mode == "training":
        out["training"] = settings_from_params("training", settings, **shared)
    if mode == "compression":
        out["compression"] = settings_from_params("compression", settings, **shared)
    return out


def _check_mode(mode: str, settings: dict, workload: dict | None = None) -> None:
    """A setting of another mode, or a workload field this mode replaces, given with a value other
    than its default: refused as the CLI refuses the typed flag (``flags.INSTEAD``)."""
    from planner.errors import InputError
    from planner.flags import INSTEAD, flag_of
    from planner.requests import SETTINGS, settings_params
    from planner.workload import Workload

    mine = set(settings_params(mode)) if mode in SETTINGS else set()
    for other, cls in SETTINGS.items():
        defaults = {flag_of(n)[1]: info.default for n, info in cls.__pydantic_fields__.items()}
        for name, value in settings.items():
            if other != mode and name in defaults and name not in mine | {"gpus_per_node"} and value is not None \
                    and value != defaults[name]:
                raise InputError(f"{name.replace('_', '-')}: applies to mode {other} only and this is mode {mode}; drop it")
    for (name, in_mode), instead in INSTEAD.items():
        if in_mode == mode and workload is not None and workload.get(name) != Workload.model_fields[name].default:
            raise InputError(f"{name.replace('_', '-')}: has no effect in mode {mode}; use {instead}")


def estimate_request(model: str, mode: str = "inference", dtype=None, quant="auto", group_size=128, double_quant=False,
                     batch=1, prompt_tokens=512, new_tokens=0, kv_dtype=None, attn_implementation="sdpa", logits="auto",
                     engine="hf", images=0, seq_len=2048, gpus=(), revision=None, **settings):
    """The EstimateRequest of ``planner estimate``'s parameters."""
    loc = dict(locals())
    from planner.requests import EstimateRequest

    _check_mode(mode, {}, {k: loc[k] for k in _WORKLOAD})
    w = _workload(mode, {k: loc[k] for k in _WORKLOAD})
    return _build(EstimateRequest, model=model, revision=revision, workload=w, seq_len=seq_len, gpus=_many(gpus),
                  **_settings(mode, settings, micro_batch=w.batch, seq_len=seq_len))


def estimate(model: str, mode: str = "inference", dtype=None, quant="auto", group_size=128, double_quant=False, batch=1,
             prompt_tokens=512, new_tokens=0, kv_dtype=None, attn_implementation="sdpa", logits="auto", engine="hf",
             images=0, seq_len=2048, gpus=(), revision=None, **settings):
    """``planner estimate``: Estimate (per-unit memory, GPUs needed per type), TrainingAnswer or CompressionAnswer."""
    params = {k: v for k, v in locals().items() if k != "settings"}
    from planner.answers.answer import answer_estimate

    return answer_estimate(estimate_request(**params, **settings))


def plan_request(model: str | None = None, gpus=(), cpu=None, disk=None, max_memory=None, reserve=None,
                 disk_gb_per_s=None, prices=(), islands=None, island_link=None, scenario_file=None, dtype=None, quant="auto", group_size=128,
                 double_quant=False, batch=1, prompt_tokens=512, new_tokens=0, kv_dtype=None, attn_implementation="sdpa",
                 logits="auto", engine="hf", images=0, objective=None, pins=(), weights_only=None, time_limit=None,
                 offload_folder=None, revision=None, explicit: set[str] | None = None):
    """The PlanRequest of ``planner plan``'s parameters. With ``scenario_file``, the file is the base
    and a parameter replaces its value when given (``explicit``: the workload names typed; by
    default those that differ from their default)."""
    loc = dict(locals())
    from planner.errors import InputError
    from planner.requests import PlanRequest
    from planner.scenario import InventorySpec, Scenario, load_scenario

    if scenario_file:
        sc = load_scenario(scenario_file)
        default_of = {k: p.default for k, p in inspect.signature(plan_request).parameters.items()}
        typed = explicit if explicit is not None else {k for k in _WORKLOAD if loc[k] != default_of[k]}
        workload = _workload("inference", {k: loc[k] for k in _WORKLOAD if k in typed}, base=sc.workload)
    else:
        if not model:
            raise InputError("model: give a MODEL (catalog name, config.json or safetensors) or --file scenario.yaml")
        sc = Scenario(model=model, inventory=InventorySpec())
        workload = _workload("inference", {k: loc[k] for k in _WORKLOAD})
    given = {"gpus": list(_many(gpus)), "cpu": cpu, "disk": disk, "max_memory": max_memory, "reserve": reserve,
             "disk_gb_per_s": disk_gb_per_s, "prices": _prices(prices), "islands": parse_islands(islands),
             "island_link": island_link}
    inventory = _build(InventorySpec, **{**sc.inventory.model_dump(),
                                         **{k: v for k, v in given.items() if v is not None and v != [] and v != ()}})
    pins = _many(pins)
    pins = (pins or None) if isinstance(pins, dict) else (parse_pins(pins) if pins else None)
    chosen = {"objective": objective, "pins": pins, "weights_only": weights_only, "time_limit_s": time_limit,
              "offload_folder": offload_folder}
    return _build(PlanRequest, **{**sc.model_dump(exclude={"inventory", "workload"}), "model": model or sc.model,
                                  "workload": workload, "inventory": inventory, "revision": revision,
                                  **{k: v for k, v in chosen.items() if v is not None}})


def plan(model: str | None = None, gpus=(), cpu=None, disk=None, max_memory=None, reserve=None, disk_gb_per_s=None,
         prices=(), islands=None, island_link=None, scenario_file=None, dtype=None, quant="auto", group_size=128, double_quant=False, batch=1,
         prompt_tokens=512, new_tokens=0, kv_dtype=None, attn_implementation="sdpa", logits="auto", engine="hf", images=0,
         objective=None, pins=(), weights_only=None, time_limit=None, offload_folder=None, revision=None):
    """``planner plan``: the optimal placement, a Plan (``status``, ``device_map``, bytes per device)."""
    params = dict(locals())
    from planner.answers.answer import answer_plan

    return answer_plan(plan_request(**params))


def size_request(model: str, mode: str = "inference", dtype=None, quant="auto", group_size=128, double_quant=False,
                 batch=1, prompt_tokens=512, new_tokens=0, kv_dtype=None, attn_implementation="sdpa", logits="auto",
                 engine="hf", images=0, seq_len=2048, context=None, concurrency=None, gpu_types=(), prices=(),
                 objective="price", electricity_usd_per_kwh=DEFAULT_ELECTRICITY_USD_PER_KWH, years=DEFAULT_YEARS, pue=1.0, max_power=None, max_hosts=None,
                 max_rack_units=None, buy_more=False, target_tokens_per_s=None, max_latency_ms=None, gpus_per_node=8,
                 max_gpus=64, gpu_memory_utilization=0.9, time_limit=1.0, have=None, cluster=None, revision=None,
                 with_accelerate=True, compare_rental=True, **settings):
    """The SizeRequest of ``planner size``'s parameters."""
    loc = dict(locals())
    from planner.requests import SizeRequest, SizeSpec
    from planner.units import parse_watts

    fields = {k: loc[k] for k in _WORKLOAD}
    _check_mode(mode, {}, fields)
    fields["engine"] = "vllm"
    w = _workload(mode, fields)
    spec = _build(SizeSpec, context=context, concurrency=concurrency, gpu_types=list(_many(gpu_types)), objective=objective,
                  max_gpus=max_gpus, gpus_per_node=gpus_per_node, gpu_memory_utilization=gpu_memory_utilization,
                  target_tokens_per_s=target_tokens_per_s, max_power_w=parse_watts(max_power, "max-power")
                  if max_power is not None else None, max_hosts=max_hosts, max_rack_units=max_rack_units,
                  electricity_usd_per_kwh=electricity_usd_per_kwh, years=years, pue=pue, prices=_prices(prices), have=have,
                  buy_more=buy_more, max_latency_ms=max_latency_ms, cluster=None if cluster is None else str(cluster))
    return _build(SizeRequest, model=model, revision=revision, workload=w, seq_len=seq_len, size=spec,
                  time_limit_s=time_limit, with_accelerate=with_accelerate, compare_rental=compare_rental,
                  **_settings(mode, {**settings, "gpus_per_node": gpus_per_node} if mode == "training" else settings,
                              micro_batch=w.batch, seq_len=seq_len))


def size(model: str, mode: str = "inference", dtype=None, quant="auto", group_size=128, double_quant=False, batch=1,
         prompt_tokens=512, new_tokens=0, kv_dtype=None, attn_implementation="sdpa", logits="auto", engine="hf", images=0,
         seq_len=2048, context=None, concurrency=None, gpu_types=(), prices=(), objective="price",
         electricity_usd_per_kwh=DEFAULT_ELECTRICITY_USD_PER_KWH, years=DEFAULT_YEARS, pue=1.0, max_power=None, max_hosts=None, max_rack_units=None,
         buy_more=False, target_tokens_per_s=None, max_latency_ms=None, gpus_per_node=8, max_gpus=64,
         gpu_memory_utilization=0.9, time_limit=1.0, have=None, cluster=None, revision=None, **settings):
    """``planner size``: ServingAnswer (what to buy or rent), CapacityAnswer (``have``), ClusterAnswer
    (``cluster``) or WorkloadAnswer (modes training and compression)."""
    params = {k: v for k, v in locals().items() if k != "settings"}
    from planner.answers.answer import answer_size

    return answer_size(size_request(**params, **settings))


def whatif_request(file, jobs=None, max_points=10_000):
    """The WhatIfRequest of ``planner whatif``'s parameters."""
    from planner.requests import WhatIfRequest

    return _build(WhatIfRequest, file=str(file), jobs=jobs, max_points=max_points)


def whatif(file, jobs=None, max_points=10_000, on_progress=None):
    """``planner whatif``: a WhatIfAnswer, one row per point of the file (``on_progress(done, total)``
    is called after each point)."""
    from planner.answers.whatif import answer_whatif

    return answer_whatif(whatif_request(file, jobs, max_points), on_progress)


def schema() -> dict:
    """``planner schema``: the JSON Schema of what-if and plan files ($schema, $id, catalog names to complete)."""
    from planner.whatif.editor_schema import editor_schema

    return editor_schema()


def catalog_gpus() -> tuple:
    """``planner catalog gpus``: the GPU types (GpuType), as the driver reports their memory."""
    from planner.catalog import gpu_types

    return tuple(gpu_types())


def catalog_hosts() -> tuple[tuple, tuple]:
    """``planner catalog hosts``: (host offers, instance offers)."""
    from planner.hardware.hosts import host_offers, instance_offers

    return tuple(host_offers()), tuple(instance_offers())


def catalog_models() -> tuple:
    """``planner catalog models``: (name, ModelSpec) of every bundled model."""
    from planner.catalog import model_names
    from planner.model.load import catalog_spec

    return tuple((name, catalog_spec(name)) for name in model_names())


def profile(model, workload=None, **workload_fields: Any):
    """The Profile (per-unit weights, KV cache, activation peak) of ``model`` (a name as the CLI takes
    it, or a ModelSpec) under a Workload or its fields."""
    from planner.costs.profile import profile as make_profile
    from planner.model.types import ModelSpec
    from planner.workload import Workload

    spec = model if isinstance(model, ModelSpec) else load_model(model)
    return make_profile(spec, workload or Workload(**workload_fields))


def load_model(model: str, revision: str | None = None):
    """ModelSpec of a catalog name, a Hub repo id, a config.json path, or a safetensors file or folder."""
    from planner.model.load import load_model as _load

    return _load(model, revision)


def load_device_map(path) -> dict:
    """A written device-map document as ``from_pretrained(**doc)`` keyword arguments (int GPU keys)."""
    from planner.export.device_map import load_device_map as _load

    return _load(path)


def build_inventory(gpus=(), cpu=None, disk=None, max_memory=None, **kw):
    """Inventory of GPUs (catalog types or sizes), CPU RAM and disk; ``max_memory`` takes the dict
    accelerate takes, e.g. ``{0: "24GiB", 1: "12GiB", "cpu": "200GiB"}``."""
    from planner.hardware.inventory import build_inventory as _build_inventory

    return _build_inventory(list(gpus), cpu, disk, max_memory, **kw)

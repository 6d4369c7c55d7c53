"""The published runs the speed model is fitted to, and the model's prediction of each.

``catalogs/speed_benchmarks.yaml`` lists measured serving runs (model, GPU, layout, batch, prompt
and output lengths, what was measured, the source). ``predict`` computes the same quantity with
the speed model; ``benchmarks/calibrate_speed.py`` fits the model's constants to them and
``docs/validation.md`` tabulates predicted vs published.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from planner.catalog import catalog_yaml
from planner.costs.comm import SpeedModel


@dataclass(frozen=True)
class Run:
    source: str
    engine: str
    model: str
    gpu: str
    tp: int
    pp: int
    batch: int
    prompt: int
    output: int
    metric: str
    """request_latency_ms | decode_tokens_per_s"""
    value: float


@cache
def benchmark_runs() -> tuple[tuple[Run, ...], dict[str, str]]:
    data = catalog_yaml("speed_benchmarks.yaml")
    return tuple(Run(**row) for row in data["runs"]), dict(data["sources"])


@cache
def _layout(model: str, gpu: str, tp: int, pp: int, context: int):
    from planner.catalog import find_gpu
    from planner.costs.profile import profile
    from planner.costs.vllm import vllm_layout
    from planner.model.load import load_model
    from planner.workload import Workload

    prof = profile(load_model(model), Workload(engine="vllm", batch=1, prompt_tokens=context, new_tokens=0))
    return prof, vllm_layout(prof, find_gpu(gpu), tp, pp)


def predict(run: Run, model: SpeedModel | None = None) -> float:
    from planner.costs.comm import speed_model
    from planner.costs.roofline import replica_speed, request_latency_s

    prof, layout = _layout(run.model, run.gpu, run.tp, run.pp, run.prompt + run.output)
    model = (model or speed_model()).for_engine(run.engine)
    if run.metric == "request_latency_ms":
        return request_latency_s(prof, layout, run.batch, run.prompt, run.output, model=model) * 1e3
    if run.metric == "decode_tokens_per_s":
        return replica_speed(prof, layout, run.batch, run.prompt + run.output // 2, model=model).decode_tokens_per_s
    raise ValueError(f"speed_benchmarks.yaml: unknown metric {run.metric!r}")


def relative_errors(model: SpeedModel | None = None) -> list[tuple[Run, float, float]]:
    """(run, predicted, (predicted - published) / published) for every published run."""
    out = []
    for run in benchmark_runs()[0]:
        p = predict(run, model)
        out.append((run, p, (p - run.value) / run.value))
    return out

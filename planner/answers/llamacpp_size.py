"""``planner size`` for a GGUF model: the fewest GPUs of each candidate type that hold the whole
model, its KV cache at the asked context and llama.cpp's buffers (no layer or expert left on the
CPU), each count proven by the same split solver ``plan`` uses, ranked by the objective."""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.answers.llamacpp import LlamaCppAnswer, plan
from planner.errors import InfeasibleError
from planner.hardware.inventory import Inventory, catalog_device
from planner.hardware.prices import hourly_total
from planner.model.gguf.model import GgufModel


@dataclass(frozen=True)
class LlamaCppSizeRow:
    gpu: str
    count: int | None
    price_usd: float | None
    price_usd_per_hour: float | None
    answer: LlamaCppAnswer | None
    reason: str = ""


@dataclass(frozen=True)
class LlamaCppSizeAnswer:
    model: GgufModel
    rows: tuple[LlamaCppSizeRow, ...]
    objective: str

    @property
    def fits(self) -> bool:
        return any(r.count for r in self.rows)

    @property
    def best(self) -> LlamaCppSizeRow | None:
        return next((r for r in self.rows if r.count), None)


def size(model: GgufModel, workload, gpu_types, objective: str, max_gpus: int, time_limit_s: float) -> LlamaCppSizeAnswer:
    rows = []
    for gpu in gpu_types:
        row = _fewest(model, workload, gpu, max_gpus, time_limit_s)
        rows.append(row)

    def key(r: LlamaCppSizeRow):
        if not r.count:
            return (1, 0.0, r.gpu)
        cost = {"price": r.price_usd, "hourly": r.price_usd_per_hour}.get(objective)
        return (0, cost if cost is not None else float(r.count) if objective == "gpus" else float("inf"), r.count, r.gpu)

    return LlamaCppSizeAnswer(model, tuple(sorted(rows, key=key)), objective)


def _fewest(model, workload, gpu, max_gpus: int, time_limit_s: float) -> LlamaCppSizeRow:
    one = catalog_device(gpu)
    if one.usable_bytes <= 0:
        return LlamaCppSizeRow(gpu.name, None, None, None, None, "no usable memory after the reserve")
    need = model.tensor_bytes - model.input_bytes  # the input layer stays on the CPU
    start = max(1, need // one.usable_bytes)  # a lower bound: the GPUs hold at least the weights
    last_reason = ""
    for count in range(start, max_gpus + 1):
        inventory = Inventory(gpus=tuple(replace(one, key=i) for i in range(count)))
        try:
            answer = plan(model, workload, inventory, time_limit_s)
        except InfeasibleError as e:
            last_reason = str(e)
            continue
        price = gpu.price_usd * count if gpu.price_usd is not None else None
        return LlamaCppSizeRow(gpu.name, count, price, hourly_total([gpu.price_usd_per_hour] * count), answer)
    return LlamaCppSizeRow(gpu.name, None, None, None, None, f"more than {max_gpus} GPUs: {last_reason}"[:300])

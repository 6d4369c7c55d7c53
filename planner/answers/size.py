"""``planner size``: GPUs to buy or rent for vLLM serving, the best pipeline over machines one has,
what GPUs one has can serve, and the GPUs a training or compression run needs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from planner.catalog import GpuType
from planner.costs.profile import Profile
from planner.hardware.prices import Energy
from planner.sizing.candidates import Candidate
from planner.sizing.fleet import Limits, Sizing

if TYPE_CHECKING:
    from planner.answers.bill import Bill

# The precisions `size --have` tries, in order: as given, then leaner KV and weights.
PRECISIONS = (
    ("as given", {}),
    ("fp8 KV cache", {"kv_dtype": "fp8"}),
    ("fp8 weights + fp8 KV", {"quant": "fp8", "kv_dtype": "fp8"}),
    ("int4 (AWQ) weights", {"quant": "awq"}),
)


def serving_request(spec, w, context: int | None, concurrency: int | None):
    """(workload, context, concurrency) of a serving question, the one reading of it for the CLI and
    the what-if runner: vLLM's engine; the context is vLLM's --max-model-len, the whole sequence
    (image tokens included), by default the workload's prompt + new tokens and its images; the
    concurrency by default its batch; the text prompt is what the images leave of the context."""
    from planner.costs.profile import image_tokens
    from planner.errors import InputError
    from planner.model.context_limit import check_context

    w = w.model_copy(update={"engine": "vllm"})
    images = image_tokens(spec, w)
    concurrency = concurrency if concurrency is not None else w.batch
    check_context(spec, context if context is not None else w.total_tokens + images)
    if context is None or context == w.total_tokens + images:
        return w.model_copy(update={"batch": concurrency}), w.total_tokens + images, concurrency
    if context - images < 1:
        raise InputError(f"context: {w.images} images take {images:,} tokens of the {context:,}-token context; give a "
                         "longer --context or fewer --images")
    return (w.model_copy(update={"batch": concurrency, "prompt_tokens": context - images, "new_tokens": 0}),
            context, concurrency)


@dataclass(frozen=True)
class ServingAnswer:
    model: str
    profile: Profile
    sizing: Sizing
    gpus_per_node: int
    accelerate: tuple[dict, ...] = ()
    """Per replica type chosen: the planner's device_map for the same GPUs under transformers."""
    bill: Bill | None = None
    """What to buy or rent, its power, cost and speed."""
    excluded: tuple[str, ...] = ()
    """GPU types left out because vLLM cannot run the quantization on them, each with the reason."""

    @property
    def fits(self) -> bool | None:
        """The one verdict: some GPUs serve the load within the limits (None: the time limit ran
        out before an answer was found or ruled out)."""
        if self.sizing.status == "unknown":
            return None
        return self.sizing.status in ("optimal", "feasible")

    @property
    def reason(self) -> str:
        """Why there is no answer, in one line (empty when there is one)."""
        s = self.sizing
        if s.choice:
            return ""
        left = f" ({len(self.excluded)} GPU type(s) left out: see Left out)" if self.excluded else ""
        if s.status == "unknown":
            return "not decided within the time limit; give a longer --time-limit"
        if not s.considered:
            return f"no GPU type in the list holds one full-context sequence{left}"
        return (f"no choice within --max-gpus and the limits (hosts, power, rack units, speed, latency) serves "
                f"{s.concurrency} sequences of {s.context:,} tokens{left}")


def _rental(profile: Profile, types: list[GpuType], context: int, concurrency: int, target, gpus_per_node: int,
            max_gpus: int, utilization: float, time_limit_s: float, max_latency_ms, limits, costs) -> tuple[str, float] | None:
    """The cheapest instances that serve the same load, to set a purchase against."""
    from planner.sizing.fleet import size

    rent = size(profile, types, context, concurrency, "hourly", target, gpus_per_node, max_gpus, utilization, time_limit_s,
                max_latency_ms, limits=Limits(limits.max_hosts, limits.max_power_w, limits.max_rack_units), costs=costs)
    if not rent.choice:
        return None
    # its own layouts, which differ from the purchase's: tensor parallel groups stay inside an instance
    return " + ".join(f"{n * c.hosts} x {c.offer.name}" if n * c.hosts > 1 else c.offer.name for c, n in rent.choice) \
        + " (" + "; ".join(f"tp {c.layout.tp} x pp {c.layout.pp}" for c, _ in rent.choice) + ")", rent.objective_value


def accelerate_map(profile: Profile, c: Candidate, s: Sizing, gpus_per_node: int) -> dict:
    """One host of the answer used by transformers + accelerate instead of vLLM: the planner's
    device_map over all its GPUs for as many sequences at full context as its replicas hold
    (at most the concurrency)."""
    if c.hosts > 1 or c.gpus > gpus_per_node:
        return {"status": "not applicable: a device_map runs on one machine"}
    from planner.costs.profile import profile as make_profile
    from planner.errors import PlannerError
    from planner.hardware.inventory import build_inventory
    from planner.placement.plan import make_plan

    seqs = min(c.unit_seqs, s.concurrency)
    prompt = max(1, s.context - profile.image_tokens)  # the images are part of each sequence's context
    w = profile.workload.model_copy(update={"engine": "hf", "batch": seqs, "prompt_tokens": prompt, "new_tokens": 0,
                                            "logits": "last"})
    try:
        hf_profile = make_profile(profile.spec, w, c.gpu)
    except PlannerError as e:  # transformers refuses what vLLM loads (a method, a GPU generation)
        return {"status": f"not applicable: {e}"}
    plan = make_plan(hf_profile, build_inventory([f"{c.gpus}x{c.gpu.name}"]), "balance", diagnose=False, time_limit_s=0.5)
    return {"status": plan.status, "sequences": seqs, "device_map": plan.device_map or None}


def size_serving(model: str, profile: Profile, types: list[GpuType], context: int, concurrency: int, objective: str = "price",
                 target_tokens_per_s: float | None = None, gpus_per_node: int = 8, max_gpus: int = 64,
                 utilization: float = 0.9, time_limit_s: float = 1.0, max_latency_ms: float | None = None,
                 with_accelerate: bool = True, energy: Energy | None = None, limits: Limits | None = None,
                 compare_rental: bool = True) -> ServingAnswer:
    """The proven-cheapest hosts (or instances) and layouts; for a purchase, also the cheapest
    rental of the same load, so the bill can say when buying breaks even."""
    from planner.answers.bill import bill_of
    from planner.costs.vllm import RankCosts
    from planner.model.context_limit import check_context
    from planner.sizing.fleet import size

    check_context(profile.spec, context)
    types, excluded = runnable_types(profile, types)
    limits, costs = limits or Limits(), RankCosts(profile)
    sizing = size(profile, types, context, concurrency, objective, target_tokens_per_s, gpus_per_node, max_gpus,
                  utilization, time_limit_s, max_latency_ms, energy, limits, costs)
    maps = tuple(accelerate_map(profile, c, sizing, gpus_per_node) for c, _ in sizing.choice) if with_accelerate else ()
    rental = None
    if compare_rental and sizing.choice and objective in ("price", "tco"):
        rental = _rental(profile, types, context, concurrency, target_tokens_per_s, gpus_per_node, max_gpus, utilization,
                         time_limit_s, max_latency_ms, limits, costs)
    return ServingAnswer(model, profile, sizing, gpus_per_node, maps, bill_of(profile, sizing, rental), excluded)


def runnable_types(profile: Profile, types: list[GpuType]) -> tuple[list[GpuType], tuple[str, ...]]:
    """The GPU types vLLM runs the profile's quantization on, and why each other one is left out;
    refused when none is left."""
    from planner.engines.vllm_rules import unsupported
    from planner.errors import InputError

    why = {t.name: unsupported(profile.load, t) for t in types}
    kept = [t for t in types if not why[t.name]]
    if types and not kept:
        raise InputError(f"quant: {next(iter(why.values()))}; choose a newer GPU type or another quantization")
    return kept, tuple(f"{name}: {reason}" for name, reason in why.items() if reason)


@dataclass(frozen=True)
class ClusterAnswer:
    model: str
    profile: Profile
    cluster: object
    plans: tuple
    """The best PipelinePlan per tensor-parallel size that holds the model."""
    context: int
    concurrency: int
    utilization: float

    @property
    def best(self):
        """The plan with the most KV cache, then the fewest GPUs."""
        return max(self.plans, key=lambda p: (p.kv_tokens, -p.gpus), default=None)

    @property
    def fits(self) -> bool:
        """The one verdict (CLI exit status, JSON, what-if rows): the best pipeline's KV cache holds
        every sequence at full context."""
        return self.best is not None and self.best.kv_tokens >= self.context * self.concurrency

    @property
    def status(self) -> str:
        return "feasible" if self.fits else "infeasible"

    @property
    def reason(self) -> str | None:
        """Why it does not fit, with what would: None when it fits."""
        if self.fits:
            return None
        if self.best is None:
            return "no pipeline holds the model on these machines"
        need = self.context * self.concurrency
        return (f"the best pipeline's KV cache holds {self.best.kv_tokens:,} tokens, {need:,} needed "
                f"({self.concurrency} sequences x {self.context:,}); it serves {self.best.kv_tokens // self.context} "
                f"sequences at that context, or {self.concurrency} of {self.best.kv_tokens // self.concurrency:,} tokens")


def size_cluster(model: str, profile: Profile, cluster, context: int, concurrency: int, utilization: float = 0.9) -> ClusterAnswer:
    from planner.costs.vllm import TP_SIZES
    from planner.engines.vllm_rules import unsupported
    from planner.errors import InputError
    from planner.model.context_limit import check_context
    from planner.sizing.pipeline import best_pipeline

    check_context(profile.spec, context)
    for node in cluster.nodes:  # every worker of the pipeline loads the method on its own GPUs
        why = unsupported(profile.load, node.gpu)
        if why:
            raise InputError(f"quant: machine {node.name}: {why}; leave that machine out of the cluster file or choose "
                             "another quantization")
    plans = tuple(p for tp in TP_SIZES for p in [best_pipeline(profile, cluster, tp, utilization)] if p is not None)
    return ClusterAnswer(model, profile, cluster, plans, context, concurrency, utilization)


@dataclass(frozen=True)
class CapacityAnswer:
    gpu: GpuType
    count: int
    context: int
    concurrency: int
    rows: tuple = ()
    """Capacity per precision: the longest context and the most sequences, with their layouts."""

    @property
    def fits(self) -> bool:
        """The one verdict: some precision serves at least one sequence on these GPUs."""
        return any(r.longest or r.most for r in self.rows)


def serve_capacity(spec, workload, gpu: GpuType, count: int, context: int, concurrency: int, gpus_per_node: int = 8,
                   utilization: float = 0.9) -> CapacityAnswer:
    from planner.costs.profile import profile
    from planner.errors import InputError
    from planner.sizing.capacity import Capacity, capacity

    rows = []
    for label, change in PRECISIONS:
        if "quant" in change and workload.quant not in ("auto", None):
            continue
        try:  # the precision as vLLM loads it on this GPU, or its refusal
            prof = profile(spec, workload.model_copy(update=change), gpu)
        except InputError as e:
            if not rows:  # the precision as given is the user's own request: its refusal is the answer
                raise
            rows.append(Capacity(label, None, None, None, str(e).removeprefix("quant: ")))
            continue
        rows.append(capacity(label, prof, gpu, count, context, concurrency, gpus_per_node, utilization))
    return CapacityAnswer(gpu, count, context, concurrency, tuple(rows))


@dataclass(frozen=True)
class SizedOption:
    """One GPU type that runs a training or compression job: how many, its peak, its price."""

    gpu: GpuType
    count: int
    gpu_peak_bytes: int
    price_usd: float | None
    price_usd_per_hour: float | None
    cost: object
    """What runs there: the TrainingCost at this data-parallel degree, or the CompressionCost of the settings that fit."""
    data_parallel: int | None = None
    tco_usd: float | None = None
    """Purchase price plus the GPUs' power over the horizon (objective tco)."""


@dataclass(frozen=True)
class WorkloadAnswer:
    mode: str
    objective: str
    model: str
    profile: Profile
    options: tuple[SizedOption, ...]
    """Every GPU type that runs the job, best first by the objective."""

    @property
    def best(self) -> SizedOption | None:
        return self.options[0] if self.options else None

    @property
    def fits(self) -> bool:
        """The one verdict: some GPU type runs the job."""
        return self.best is not None


_RANK = {"price": lambda o: (o.price_usd is None, o.price_usd or 0, o.count),
         "hourly": lambda o: (o.price_usd_per_hour is None, o.price_usd_per_hour or 0, o.count),
         "gpus": lambda o: (o.count, o.price_usd_per_hour or 0),
         "tco": lambda o: (o.tco_usd is None, o.tco_usd or 0, o.count)}


def _with_tco(o: SizedOption, energy: Energy) -> SizedOption:
    """The option with its total cost: purchase price plus the GPUs' power over the horizon."""
    return o if o.price_usd is None else replace(o, tco_usd=round(o.price_usd + energy.usd(o.gpu.board_power_w * o.count), 2))


def _option(gpu: GpuType, count: int, peak: int, cost, data_parallel: int | None = None) -> SizedOption:
    from planner.hardware.prices import price_of

    buy, hour = price_of(gpu, count)
    return SizedOption(gpu, count, peak, buy, hour, cost, data_parallel)


def size_workload(mode: str, model: str, profile: Profile, setup, types: list[GpuType],
                  objective: str = "price", energy: Energy | None = None) -> WorkloadAnswer:
    """The GPU types that run a training (``setup`` a TrainingSetup) or compression run, ranked by
    the objective: price, hourly, gpus or tco (price and power over ``energy``'s horizon)."""
    options = _training_options(profile, setup, types) if mode == "training" else _compression_options(profile, setup, types)
    options = [_with_tco(o, energy or Energy()) for o in options]
    return WorkloadAnswer(mode, objective, model, profile, tuple(sorted(options, key=_RANK[objective])))


def _training_options(profile: Profile, setup, types: list[GpuType]) -> list[SizedOption]:
    from planner.costs.training import training_cost
    from planner.sizing.training import training_hardware

    return [_option(h.gpu, h.gpus * setup.tp * setup.pp, h.gpu_peak_bytes, training_cost(profile, replace(setup, gpus=h.gpus)),
                    h.gpus) for h in training_hardware(profile, setup, types)]


def _compression_options(profile: Profile, setup, types: list[GpuType]) -> list[SizedOption]:
    from planner.sizing.compression import recommend

    recs = [recommend(profile, gpu, setup) for gpu in types]
    return [_option(r.gpu, 1, r.cost.gpu_peak_bytes, r.cost) for r in recs if r.cost is not None]

"""One entry point per question: ``answer(request)`` takes a request of ``planner.requests`` and
returns its typed answer. The CLI, the what-if runner and the Python API all come through here,
so a question gets the same answer wherever it is asked; each answer carries one verdict
(``fits``: True, False, or None when undecided or not a yes/no question) and ``exit_status``
turns it into the CLI's status."""

from __future__ import annotations

from dataclasses import replace

from planner.errors import InputError
from planner.requests import EstimateRequest, PlanRequest, SizeRequest


def answer(request, reuse_models: bool = False):
    """The answer to any request; ``reuse_models`` keeps each model read for the process (a sweep)."""
    for kind, handler in ((EstimateRequest, answer_estimate), (PlanRequest, answer_plan), (SizeRequest, answer_size)):
        if isinstance(request, kind):
            return handler(request, reuse_models)
    raise TypeError(f"not a planner request: {type(request).__name__}")


def exit_status(result) -> int:
    """0 when the answer fits (or is a measurement that decides nothing), 3 when it does not fit
    or the time limit left it undecided."""
    if not getattr(result, "decides", True):
        return 0
    return 0 if result.fits else 3


def answer_estimate(req: EstimateRequest, reuse_models: bool = False):
    """Estimate (inference), TrainingAnswer or CompressionAnswer, by the workload's mode."""
    from planner.answers.estimate import estimate
    from planner.answers.inputs import model_spec
    from planner.catalog import find_gpu
    from planner.costs.profile import profile

    w = req.workload
    gguf = _gguf(req, reuse_models)
    if gguf is not None:
        from planner.answers.llamacpp import estimate as llamacpp_estimate

        if w.mode != "inference":
            raise InputError(f"mode: a GGUF model runs inference in llama.cpp; --mode {w.mode} needs a transformers checkpoint")
        if req.gpus:
            raise InputError("gpu: for a GGUF model, planner plan MODEL --gpu ... gives llama.cpp's split and planner size "
                             "MODEL --gpu-type ... the fewest GPUs; estimate takes no --gpu")
        return llamacpp_estimate(gguf, w)
    gpu_types = [find_gpu(g) for g in req.gpus]
    prof = profile(model_spec(req.model, req.revision, cache=reuse_models), w)
    if w.mode == "training":
        from planner.answers.train import train

        return train(prof, replace(req.training, micro_batch=w.batch, seq_len=req.seq_len), gpu_types)
    if w.mode == "compression":
        from planner.answers.compress import compress

        return compress(req.model, prof, replace(req.compression, seq_len=req.seq_len), gpu_types)
    return estimate(prof, gpu_types)


def answer_plan(req: PlanRequest, reuse_models: bool = False, diagnose: bool = True):
    """The Plan: the optimal placement on the inventory, or why none exists (``diagnose``)."""
    from planner.answers.inputs import inventory_of, profile_on
    from planner.placement.plan import make_plan

    mode = req.workload.mode
    if mode != "inference":
        raise InputError(f"workload.mode: plan places a model for inference; for {mode} use planner estimate --mode "
                         f"{mode} or planner size --mode {mode}" if mode in ("training", "compression") else
                         "workload.mode: plan places inference")
    inventory = inventory_of(req.inventory)
    gguf = _gguf(req, reuse_models)
    if gguf is not None:
        from planner.answers.llamacpp import plan as llamacpp_plan

        if req.pins or req.weights_only or inventory.disk is not None:
            given = "--pin" if req.pins else "--weights-only" if req.weights_only else "--disk"
            raise InputError(f"{given.lstrip('-')}: llama.cpp places whole layers by -ngl/-ts and reads weights from RAM, "
                             f"not disk; {given} applies to transformers checkpoints, drop it")
        return llamacpp_plan(gguf, req.workload, inventory, max(req.time_limit_s, 10.0))
    prof = profile_on(req.model, req.revision, req.workload, inventory.gpu0_type, bool(inventory.gpus), reuse_models)
    return make_plan(prof, inventory, req.objective, req.pins, req.weights_only, req.time_limit_s, req.offload_folder,
                     diagnose=diagnose)


def _size_gguf(req: SizeRequest, model):
    """The fewest GPUs of each candidate type that run a GGUF model whole in llama.cpp."""
    from planner.answers.inputs import candidate_types
    from planner.answers.llamacpp_size import size

    s, w = req.size, req.workload
    if w.mode != "inference":
        raise InputError(f"mode: a GGUF model runs inference in llama.cpp; --mode {w.mode} needs a transformers checkpoint")
    unused = [f for f in ("have", "cluster", "target_tokens_per_s", "max_latency_ms") if getattr(s, f) not in (None, False)]
    if unused:
        flag = unused[0].replace("_", "-")
        raise InputError(f"{flag}: sizing a GGUF model for llama.cpp does not take --{flag} yet; drop it")
    update = {}
    if s.context:
        update.update(prompt_tokens=s.context, new_tokens=0)
    if s.concurrency:
        update["batch"] = s.concurrency
    return size(model, w.model_copy(update=update), candidate_types(s.gpu_types, s.prices), s.objective,
                min(s.max_gpus, s.gpus_per_node), max(req.time_limit_s, 10.0))


def _check_kv(w) -> None:
    from planner.workload import LLAMACPP_ONLY_KV

    if w.kv_dtype in LLAMACPP_ONLY_KV:
        raise InputError(f"kv-dtype: {w.kv_dtype} is a llama.cpp cache type, for GGUF models; this model takes fp32, bf16, "
                         "fp16 or fp8")


def _gguf(req, reuse_models: bool):
    """The GgufModel when the request names a GGUF model (file, folder, Hub org/name:TAG, Ollama
    name:tag) or asks for the llama.cpp engine; None for everything transformers reads."""
    from planner.model.gguf import gguf_kind

    if gguf_kind(req.model, req.workload.engine) is None:
        _check_kv(req.workload)
        if req.workload.engine == "llamacpp":
            raise InputError(f"engine: llama.cpp loads GGUF files; {req.model[:200]!r} is not one (give a .gguf file, "
                             "org/name:Q4_K_M or an Ollama name:tag)")
        return None
    if req.workload.engine == "vllm" and not isinstance(req, SizeRequest):  # size serves with vLLM by default
        raise InputError("engine: the planner sizes GGUF models for llama.cpp; use --engine llamacpp (or hf, the default)")
    from planner.answers.inputs import gguf_model

    return gguf_model(req.model, req.revision, req.workload.engine, cache=reuse_models)


_INFERENCE_ONLY = ("context", "concurrency", "target_tokens_per_s", "max_latency_ms", "have", "buy_more", "cluster")


def answer_size(req: SizeRequest, reuse_models: bool = False):
    """WorkloadAnswer (training, compression), ClusterAnswer (``size.cluster``), CapacityAnswer
    (``size.have``) or ServingAnswer (what to buy or rent, ``size.have`` with ``buy_more``)."""
    from planner.answers import size as sizing
    from planner.answers.inputs import candidate_types, have_gpus, model_spec, owned_gpus
    from planner.costs.profile import profile
    from planner.hardware.prices import Energy
    from planner.sizing.fleet import Limits

    s, mode = req.size, req.workload.mode
    gguf = _gguf(req, reuse_models)
    if gguf is not None:
        return _size_gguf(req, gguf)
    spec = model_spec(req.model, req.revision, cache=reuse_models)
    if mode != "inference":
        given = [f for f in _INFERENCE_ONLY if getattr(s, f) not in (None, False)]
        if given:
            flag = given[0].replace("_", "-")
            raise InputError(f"{flag}: --{flag} applies to --mode inference only and this is --mode {mode}; drop it")
    w = req.workload.model_copy(update={"engine": "vllm", "mode": "inference"})
    w, context, concurrency = sizing.serving_request(spec, w, s.context, s.concurrency)
    energy = Energy(s.electricity_usd_per_kwh, s.years, s.pue)
    if mode != "inference":
        prof = profile(spec, w.model_copy(update={"engine": "hf", "mode": mode}))
        setup = (replace(req.training, micro_batch=w.batch, seq_len=req.seq_len, gpus_per_node=s.gpus_per_node)
                 if mode == "training" else replace(req.compression, seq_len=req.seq_len))
        return sizing.size_workload(mode, req.model, prof, setup, candidate_types(s.gpu_types, s.prices), s.objective, energy)
    if s.cluster:
        from planner.hardware.topology import load_cluster

        if s.have:
            raise InputError("have: give the machines you have once, with --cluster FILE or with --have, not both")
        return sizing.size_cluster(req.model, profile(spec, w), load_cluster(s.cluster), context, concurrency,
                                   s.gpu_memory_utilization)
    if s.buy_more and not s.have:
        raise InputError("buy-more: give the GPUs you have with --have, e.g. --have 4xRTX-4090 --buy-more")
    if s.have and not s.buy_more:
        from planner.model.context_limit import check_context

        check_context(spec, context)
        gpu, count = have_gpus(s.have)
        return sizing.serve_capacity(spec, w, gpu, count, context, concurrency, s.gpus_per_node, s.gpu_memory_utilization)
    types = candidate_types(s.gpu_types, s.prices)
    limits = Limits(s.max_hosts, s.max_power_w, s.max_rack_units, owned_gpus(s.have, types) if s.buy_more else {})
    return sizing.size_serving(req.model, profile(spec, w), types, context, concurrency, s.objective, s.target_tokens_per_s,
                               s.gpus_per_node, s.max_gpus, s.gpu_memory_utilization, req.time_limit_s, s.max_latency_ms,
                               with_accelerate=req.with_accelerate, energy=energy, limits=limits,
                               compare_rental=req.compare_rental)

"""The llama.cpp answers: exact memory of a GGUF model (estimate) and the proven split over the
GPUs and CPU at hand (plan), with the ``llama-server`` command that asks for it and the Ollama
equivalents. Costs come from the GGUF header (costs/llamacpp.py), the split from CP-SAT under
llama.cpp's own assignment rules (placement/llamacpp.py), and the printed flags are replayed
through those rules (engines/llamacpp_rules.py) before they are shown.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from planner.costs import llamacpp as costs
from planner.errors import InputError
from planner.model.gguf.ggml_types import KV_CACHE_TYPES
from planner.model.gguf.model import EXPERT_TENSOR, GgufModel

DEFAULT_HOST_GB_PER_S = 60.0
"""Host memory read bandwidth for CPU-held weights, GB/s (dual-channel DDR5 reads ~60-80 GB/s)."""
KV_TYPES = {"fp16": "f16", "bf16": "bf16", "fp32": "f32"}
OLLAMA_KV = ("f16", "q8_0", "q4_0")


@dataclass(frozen=True)
class DeviceMemory:
    device: str
    weights: int
    kv: int
    compute: int
    other: int
    """Output (logits) buffer on the CPU; the reserve (CUDA context) on a GPU."""
    capacity: int | None
    layers: str = ""

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.compute + self.other


@dataclass(frozen=True)
class LlamaCppAnswer:
    model: GgufModel
    context: costs.LlamaCppContext
    n_ctx: int
    cells: int
    devices: tuple[DeviceMemory, ...]
    fits: bool | None
    server_args: tuple[str, ...] = ()
    ollama: tuple[str, ...] = ()
    ngl: int | None = None
    tensor_split: tuple[int, ...] = ()
    experts_on_cpu: tuple[int, ...] = ()
    host_read_bytes: int = 0
    tokens_per_s: float | None = None
    proven: bool = False
    notes: tuple[str, ...] = field(default=())
    decides: bool = True

    @property
    def command(self) -> str:
        return shlex.join(self.server_args)


def context_of(model: GgufModel, workload) -> costs.LlamaCppContext:
    """llama.cpp's context settings from the workload: -c is prompt + new tokens of every sequence
    of each sequence times the batch, -np the batch, -ctk/-ctv the KV dtype, -fa off for eager."""
    if workload.quant not in (None, "auto"):
        raise InputError(f"quant: a GGUF file is stored quantized ({model.quant_label}); choose another file of the "
                         f"repo (org/name:Q8_0) instead of --quant {workload.quant}")
    if workload.dtype is not None:
        raise InputError("dtype: a GGUF file's tensors keep the types they are stored in; drop --dtype")
    if workload.images:
        raise InputError("images: the vision projector (mmproj) of a GGUF model is not sized yet; drop --images")
    kv = workload.kv_dtype or "fp16"
    kv_type = KV_TYPES.get(kv, kv)
    if kv_type not in KV_CACHE_TYPES:
        raise InputError(f"kv-dtype: llama.cpp caches in {', '.join(KV_CACHE_TYPES)}; {kv} is not one of them")
    flash_attn = workload.attn_implementation != "eager"
    if not flash_attn and kv_type not in ("f16", "f32"):
        raise InputError("kv-dtype: llama.cpp needs flash attention for a quantized V cache; drop --attn eager")
    per_seq = workload.prompt_tokens + workload.new_tokens
    return costs.LlamaCppContext(n_ctx=per_seq * workload.batch, n_seq=workload.batch, type_k=kv_type, type_v=kv_type,
                                 flash_attn=flash_attn)


def _notes(model: GgufModel, ctx: costs.LlamaCppContext, n_ctx: int) -> list[str]:
    notes = []
    train = costs.n_ctx_train(model)
    if n_ctx // ctx.n_seq > train:
        notes.append(f"context {n_ctx // ctx.n_seq:,} per sequence is past the {train:,} tokens the model was trained on; "
                     "llama.cpp runs it but quality may drop")
    return notes


@dataclass(frozen=True)
class _Costs:
    kv: list[int]
    gpu_layer: list[int]
    gpu_experts: list[int]
    cpu_layer: list[int]
    cpu_experts: list[int]
    read: list[int]
    expert_read: list[int]
    compute: tuple[int, int, int]
    output_buffer: int


def layer_costs(model: GgufModel, ctx: costs.LlamaCppContext) -> _Costs:
    kv = costs.kv_bytes(model, ctx)
    gpu_layer, gpu_experts = costs.layer_gpu_bytes(model)
    experts = model.uint("expert_count", 0)
    used = min(model.uint("expert_used_count", 0), experts)
    share = (used / experts) if experts else 1.0
    cpu_layer = [layer.nbytes for layer in model.layers]
    cpu_experts = [layer.expert_bytes for layer in model.layers]
    expert_read = [int(b * share) for b in cpu_experts]
    read = [c - e + r for c, e, r in zip(cpu_layer, cpu_experts, expert_read, strict=True)]
    return _Costs(kv, gpu_layer, gpu_experts, cpu_layer, cpu_experts, read, expert_read,
                  costs.compute_bytes(model, ctx), costs.output_buffer_bytes(model, ctx))


def estimate(model: GgufModel, workload) -> LlamaCppAnswer:
    """Every byte llama.cpp allocates for the model run whole on one GPU (weights, KV, compute),
    and what stays on the CPU (the input layer, the logits buffer, the host compute buffer)."""
    ctx = context_of(model, workload)
    n_ctx, per_stream, _ = costs.cells(model, ctx)
    notes = _notes(model, ctx, n_ctx)
    c = layer_costs(model, ctx)
    gpu_weights = sum(c.gpu_layer) + costs.output_gpu_bytes(model)
    devices = (
        DeviceMemory("GPU (all layers)", gpu_weights, sum(c.kv), c.compute.output, 0, None, f"0-{model.n_layer - 1} + output"),
        DeviceMemory("CPU", model.input_bytes, 0, c.compute.host, c.output_buffer, None, "input (token_embd)"),
    )
    return LlamaCppAnswer(model, ctx, n_ctx, per_stream, devices, None, notes=tuple(notes), decides=False)


def plan(model: GgufModel, workload, inventory, time_limit_s: float = 10.0,
         host_gb_per_s: float = DEFAULT_HOST_GB_PER_S) -> LlamaCppAnswer:
    """The proven-best llama.cpp split of ``model`` over ``inventory`` and the commands that ask for it."""
    from planner.errors import InfeasibleError
    from planner.placement.llamacpp import solve

    ctx = context_of(model, workload)
    n_ctx, per_stream, _ = costs.cells(model, ctx)
    notes = _notes(model, ctx, n_ctx)
    c = layer_costs(model, ctx)
    gpus = inventory.gpus
    if not gpus:
        raise InputError("gpu: give the GPUs to split over, e.g. --gpu RTX4090 --gpu 12GiB --cpu 64GiB")
    problem = _problem(model, ctx, c, inventory, time_limit_s)
    try:
        split = solve(problem)
    except InfeasibleError as e:
        if inventory.cpu is None:
            raise InfeasibleError(f"{e}; or let layers stay in RAM with --cpu SIZE") from None
        raise
    slots = [-1] * split.cpu_layers + [g for g, n in enumerate(split.gpu_layers) for _ in range(n)]
    devices = []
    for g, dev in enumerate(gpus):
        mine = [i for i, d in enumerate(slots) if d == g]
        kv = sum(c.kv[i] for i in mine if i < model.n_layer)
        devices.append(DeviceMemory(f"GPU {g} ({dev.label})", split.gpu_bytes[g] - kv - split.gpu_compute[g], kv,
                                    split.gpu_compute[g], dev.reserve_bytes if mine else 0, dev.capacity_bytes,
                                    _ranges(mine, model.n_layer, split.experts_on_cpu)))
    cpu_layers = [i for i, d in enumerate(slots) if d == -1]
    cpu_kv = sum(c.kv[i] for i in cpu_layers if i < model.n_layer)
    cpu_compute = c.compute.host + split.cpu_compute
    cpu = inventory.cpu
    devices.append(DeviceMemory("CPU", split.cpu_bytes - cpu_kv - c.output_buffer - cpu_compute, cpu_kv, cpu_compute,
                                c.output_buffer, cpu.capacity_bytes if cpu else None,
                                "input" + (", " + _ranges(cpu_layers, model.n_layer, ()) if cpu_layers else "")))
    used = [g for g, n in enumerate(split.gpu_layers) if n]
    free_ram = (cpu.usable_bytes - split.cpu_bytes) if cpu else 0
    server, ollama = commands(model, ctx, split, used, gpus, free_ram)
    check_replay(model, server, slots, split.experts_on_cpu, used)
    speed = tokens_per_s(model, c, split, slots, gpus, host_gb_per_s)
    if used and (split.experts_on_cpu or split.cpu_layers):
        notes.append("the first GPU used also holds a copy of the largest CPU-held weight while it runs a prompt batch "
                     "(llama.cpp's op offload); --no-op-offload saves it at the cost of slower prompts")
    if len(used) > 1 or (used and used != [0]):
        notes.append("-dev names GPUs in llama.cpp's order; set CUDA_DEVICE_ORDER=PCI_BUS_ID so it is the order "
                     "nvidia-smi lists (and --gpu was given in)")
    if speed is not None:
        notes.append(f"decode speed takes host memory at {host_gb_per_s:g} GB/s and each GPU at its catalog bandwidth")
    return LlamaCppAnswer(model, ctx, n_ctx, per_stream, tuple(devices), True, tuple(server), tuple(ollama),
                          split.ngl, tuple(split.gpu_layers[g] for g in used), split.experts_on_cpu,
                          split.host_read_bytes, speed, split.proven, tuple(notes))


def _problem(model: GgufModel, ctx, c: _Costs, inventory, time_limit_s: float):
    from planner.placement.llamacpp import LayerCost, LlamaCppProblem

    layers = [LayerCost(c.gpu_layer[i] + c.kv[i], c.cpu_layer[i] + c.kv[i], c.gpu_experts[i], c.cpu_experts[i],
                        c.read[i], c.expert_read[i]) for i in range(model.n_layer)]
    layers.append(LayerCost(costs.output_gpu_bytes(model), sum(t.nbytes for t in model.output_tensors),
                            read_bytes=output_read_bytes(model)))
    layer_weights = [costs.gpu_tensor_bytes(t) for layer in model.layers for t in layer.tensors]
    cpu_fixed = model.input_bytes + c.output_buffer + c.compute.host
    buffers = c.compute
    return LlamaCppProblem(
        layers=tuple(layers), gpu_capacity=tuple(g.usable_bytes for g in inventory.gpus), gpu_fixed=buffers.layers,
        gpu_fixed_output=buffers.output, op_offload_bytes=max(layer_weights, default=0) if ctx.n_ubatch >= 32 else 0,
        cpu_capacity=inventory.cpu.usable_bytes if inventory.cpu is not None else cpu_fixed,
        cpu_fixed=cpu_fixed, time_limit_s=time_limit_s, pipeline_bytes=buffers.pipeline_copies,
        cpu_layers_compute=max(0, buffers.layers - buffers.host), cpu_output_compute=buffers.output - buffers.layers)


def output_read_bytes(model: GgufModel) -> int:
    """Weight bytes a token reads on the output layer: its norm and head, or the embedding it shares."""
    tied = model.embedding.nbytes if model.output_tied and model.embedding is not None else 0
    return sum(t.nbytes for t in model.output_tensors) + tied


def _ranges(slots: list[int], n_layer: int, moved) -> str:
    if not slots:
        return "-"
    layers = [i for i in slots if i < n_layer]
    text = (f"{layers[0]}-{layers[-1]}" if len(layers) > 1 else str(layers[0])) if layers else ""
    if n_layer in slots:
        text = (text + " + output") if text else "output"
    own = [i for i in moved if i in slots]
    return text + (f" (experts of {len(own)} on CPU)" if own else "")


def _device_names(gpus, used: list[int]) -> str:
    """llama.cpp's device names for the GPUs used: CUDA0.. for NVIDIA, ROCm0.. for AMD (HIP builds)."""
    from planner.catalog import find_gpu

    names = []
    for g in used:
        vendor = find_gpu(gpus[g].gpu_type).vendor if gpus[g].gpu_type else "nvidia"
        names.append(f"{'ROCm' if vendor == 'amd' else 'CUDA'}{g}")
    return ",".join(names)


def commands(model: GgufModel, ctx: costs.LlamaCppContext, split, used: list[int], gpus, free_ram: int):
    """(llama-server argv, Ollama lines) for the split."""
    from planner.engines.llamacpp_rules import expert_override

    if model.hf_repo:
        source = ["-hf", f"{model.hf_repo}:{model.hf_tag}" if model.hf_tag else model.hf_repo, "--no-mmproj"]
    else:
        source = ["-m", model.files[0] if model.files else model.source]
    args = ["llama-server", *source, "-c", str(costs.cells(model, ctx)[0]), "-np", str(ctx.n_seq), "-ngl", str(split.ngl)]
    if not used:
        args += ["-dev", "none"]  # no GPU at all: llama.cpp would still run prompt batches on GPU 0
    elif len(used) < len(gpus):
        args += ["-dev", _device_names(gpus, used)]
    if len(used) > 1:
        args += ["-ts", ",".join(str(split.gpu_layers[g]) for g in used)]
    cpu_experts = sorted(set(split.experts_on_cpu))
    if cpu_experts:
        whole = list(range(split.cpu_layers)) + cpu_experts
        args += list(expert_override(whole if whole == list(range(len(whole))) else cpu_experts))
    args += ["-ctk", ctx.type_k, "-ctv", ctx.type_v, "-fa", "on" if ctx.flash_attn else "off", "-ub", str(ctx.n_ubatch),
             "--cache-ram", str(max(0, min(8192, free_ram // 2**20))), "--fit", "off"]
    per_seq = costs.cells(model, ctx)[0] // ctx.n_seq
    env = [f"OLLAMA_NUM_PARALLEL={ctx.n_seq}", f"OLLAMA_FLASH_ATTENTION={1 if ctx.flash_attn else 0}"]
    if ctx.type_k in OLLAMA_KV and ctx.type_k == ctx.type_v:
        env.append(f"OLLAMA_KV_CACHE_TYPE={ctx.type_k}")
    if model.ollama:
        run = f"ollama run {model.ollama.removeprefix('registry.ollama.ai/').removeprefix('library/')}"
    elif model.hf_repo:
        run = f"ollama run hf.co/{model.hf_repo}" + (f":{model.hf_tag}" if model.hf_tag else "")
    else:
        run = f"ollama create NAME -f Modelfile (Modelfile: FROM {model.files[0] if model.files else model.source}), then ollama run NAME"
    ollama = [" ".join(env) + " ollama serve",
              f"{run}; in the session: /set parameter num_gpu {split.ngl} and /set parameter num_ctx {per_seq}",
              "Ollama takes the layer count (num_gpu) but splits the GPUs and places experts by its own estimate; "
              "for this exact split run the llama-server command"]
    return args, ollama


def check_replay(model: GgufModel, args: list[str], slots: list[int], moved, used: list[int]) -> None:
    """Replay the printed flags through llama.cpp's rules; every tensor must land where the plan says."""
    from planner.engines.llamacpp_rules import override_buffer, parse_overrides, slot_devices

    value = {args[i]: args[i + 1] for i in range(1, len(args) - 1) if args[i].startswith("-")}
    ts = [float(x) for x in value["-ts"].split(",")] if "-ts" in value else [1.0]
    replay = slot_devices(model.n_layer, int(value["-ngl"]), ts)
    replay = [used[d] if d >= 0 else -1 for d in replay]
    overrides = []
    for flag in ("--n-cpu-moe", "-ot"):
        if flag in value:
            overrides += parse_overrides(flag, value[flag])
    for i, layer in enumerate(model.layers):
        for t in layer.tensors:
            where = -1 if override_buffer(t.name, overrides) == "CPU" else replay[i]
            want = -1 if slots[i] == -1 or (EXPERT_TENSOR.search(t.name) and i in moved) else slots[i]
            if where != want:
                raise AssertionError(f"llama.cpp would put {t.name} on device {where}, the plan on {want} (-1: CPU)")
    if replay[-1] != slots[-1]:
        raise AssertionError("llama.cpp would put the output layer elsewhere than the plan")


def tokens_per_s(model: GgufModel, c: _Costs, split, slots, gpus, host_gb_per_s: float) -> float | None:
    """Decode tokens/s bounded by memory reads: every weight a token touches and its KV, each read at
    its device's bandwidth, one device after another (llama.cpp runs layers in order)."""
    from planner.catalog import find_gpu

    seconds = split.host_read_bytes / (host_gb_per_s * 1e9)
    for g, dev in enumerate(gpus):
        mine = [i for i, d in enumerate(slots) if d == g and i < model.n_layer]
        read = sum(c.read[i] + c.kv[i] - (c.expert_read[i] if i in split.experts_on_cpu else 0) for i in mine)
        if slots[-1] == g:
            read += output_read_bytes(model)
        if not read:
            continue
        if dev.gpu_type is None:
            return None
        seconds += read / (find_gpu(dev.gpu_type).hbm_gb_per_s * 1e9)
    return 1.0 / seconds if seconds else None

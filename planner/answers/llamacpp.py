"""The llama.cpp answers: exact memory of a GGUF model (estimate) and the proven split over the
GPUs and CPU at hand (plan), with the ``llama-server`` command that asks for it and the Ollama
equivalents. Costs come from the GGUF header (costs/llamacpp.py), the split from CP-SAT under
llama.cpp's own assignment rules (placement/llamacpp.py), and the printed flags are replayed
through those rules (engines/llamacpp_rules.py) before they are shown.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from planner.costs import llamacpp as costs
from planner.errors import InputError
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
    if kv_type not in costs.KV_CACHE_TYPES:
        raise InputError(f"kv-dtype: llama.cpp caches in {', '.join(costs.KV_CACHE_TYPES)}; {kv} is not one of them")
    per_seq = workload.prompt_tokens + workload.new_tokens
    return costs.LlamaCppContext(n_ctx=per_seq * workload.batch, n_seq=workload.batch, type_k=kv_type, type_v=kv_type,
                                 flash_attn=workload.attn_implementation != "eager")


def _notes(model: GgufModel, ctx: costs.LlamaCppContext, n_ctx: int) -> list[str]:
    notes = []
    train = costs.n_ctx_train(model)
    if n_ctx // ctx.n_seq > train:
        notes.append(f"context {n_ctx // ctx.n_seq:,} per sequence is past the {train:,} tokens the model was trained on; "
                     "llama.cpp runs it but quality may drop")
    if not ctx.flash_attn and ctx.type_v != "f16" and ctx.type_v != "f32":
        raise InputError("kv-dtype: llama.cpp needs flash attention for a quantized V cache; drop --attn eager")
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
    experts = int(model.key("expert_count", 0) or 0)
    used = int(model.key("expert_used_count", 0) or 0)
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
        DeviceMemory("GPU (all layers)", gpu_weights, sum(c.kv), c.compute[1], 0, None, f"0-{model.n_layer - 1} + output"),
        DeviceMemory("CPU", model.input_bytes, 0, c.compute[2], c.output_buffer, None, "input (token_embd)"),
    )
    return LlamaCppAnswer(model, ctx, n_ctx, per_stream, devices, None, notes=tuple(notes), decides=False)


def plan(model: GgufModel, workload, inventory, time_limit_s: float = 10.0,
         host_gb_per_s: float = DEFAULT_HOST_GB_PER_S) -> LlamaCppAnswer:
    """The proven-best llama.cpp split of ``model`` over ``inventory`` and the commands that ask for it."""
    from planner.errors import InfeasibleError
    from planner.placement.llamacpp import LayerCost, LlamaCppProblem, solve

    ctx = context_of(model, workload)
    n_ctx, per_stream, _ = costs.cells(model, ctx)
    notes = _notes(model, ctx, n_ctx)
    c = layer_costs(model, ctx)
    layers = [LayerCost(c.gpu_layer[i] + c.kv[i], c.cpu_layer[i] + c.kv[i], c.gpu_experts[i], c.cpu_experts[i],
                        c.read[i], c.expert_read[i], c.kv[i]) for i in range(model.n_layer)]
    out_cpu = sum(t.nbytes for t in model.output_tensors)
    layers.append(LayerCost(costs.output_gpu_bytes(model), out_cpu, read_bytes=out_cpu))
    gpus = inventory.gpus
    if not gpus:
        raise InputError("gpu: give the GPUs to split over, e.g. --gpu RTX4090 --gpu 12GiB --cpu 64GiB")
    layer_weights = [costs.gpu_tensor_bytes(t) for layer in model.layers for t in layer.tensors]
    cpu_fixed = model.input_bytes + c.output_buffer + c.compute[2]
    problem = LlamaCppProblem(
        layers=tuple(layers), gpu_capacity=tuple(g.usable_bytes for g in gpus), gpu_fixed=c.compute[0],
        gpu_fixed_output=c.compute[1], op_offload_bytes=max(layer_weights, default=0) if ctx.n_ubatch >= 32 else 0,
        cpu_capacity=inventory.cpu.usable_bytes if inventory.cpu is not None else cpu_fixed,
        cpu_fixed=cpu_fixed, time_limit_s=time_limit_s)
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
        moved = sum(c.gpu_experts[i] for i in split.experts_on_cpu if i in mine)
        weights = split.gpu_bytes[g] - kv - (_fixed(problem, split, g, mine, slots) if mine else 0)
        compute = _fixed(problem, split, g, mine, slots) if mine else 0
        devices.append(DeviceMemory(f"GPU {g} ({dev.label})", weights, kv, compute, dev.reserve_bytes if mine else 0,
                                    dev.capacity_bytes, _ranges(mine, model.n_layer, split.experts_on_cpu)))
        del moved
    cpu_layers = [i for i, d in enumerate(slots) if d == -1]
    cpu_kv = sum(c.kv[i] for i in cpu_layers if i < model.n_layer)
    devices.append(DeviceMemory("CPU", split.cpu_bytes - cpu_kv - c.output_buffer - c.compute[2], cpu_kv, c.compute[2],
                                c.output_buffer, inventory.cpu.capacity_bytes if inventory.cpu else None,
                                "input" + (", " + _ranges(cpu_layers, model.n_layer, ()) if cpu_layers else "")))
    used = [g for g, n in enumerate(split.gpu_layers) if n]
    server, ollama = commands(model, ctx, split, used, len(gpus))
    check_replay(model, server, slots, split.experts_on_cpu, used)
    speed = tokens_per_s(model, c, split, slots, gpus, host_gb_per_s)
    if used and (split.experts_on_cpu or split.cpu_layers):
        notes.append("the first GPU also holds a copy of the largest CPU-held weight while it runs a prompt batch "
                     "(llama.cpp's op offload); --no-op-offload saves it at the cost of slower prompts")
    return LlamaCppAnswer(model, ctx, n_ctx, per_stream, tuple(devices), True, tuple(server), tuple(ollama),
                          split.ngl, tuple(split.gpu_layers[g] for g in used), split.experts_on_cpu,
                          split.host_read_bytes, speed, split.proven, tuple(notes))


def _fixed(problem, split, g, mine, slots) -> int:
    """The compute buffer (and op-offload copy) the solver charged GPU ``g``."""
    out = problem.gpu_fixed_output if slots and slots[-1] == g else problem.gpu_fixed
    if g == 0 and (split.cpu_layers or split.experts_on_cpu):
        out += problem.op_offload_bytes
    return out


def _ranges(slots: list[int], n_layer: int, moved) -> str:
    if not slots:
        return "-"
    layers = [i for i in slots if i < n_layer]
    text = (f"{layers[0]}-{layers[-1]}" if len(layers) > 1 else str(layers[0])) if layers else ""
    if n_layer in slots:
        text = (text + " + output") if text else "output"
    own = [i for i in moved if i in slots]
    return text + (f" (experts of {len(own)} on CPU)" if own else "")


def commands(model: GgufModel, ctx: costs.LlamaCppContext, split, used: list[int], n_gpus: int):
    """(llama-server argv, Ollama lines) for the split."""
    from planner.engines.llamacpp_rules import expert_override

    source = ["-hf", f"{model.hf_repo}:{_tag(model)}"] if model.hf_repo else ["-m", model.files[0] if model.files else model.source]
    args = ["llama-server", *source, "-c", str(ctx.n_ctx and costs.cells(model, ctx)[0]), "-np", str(ctx.n_seq),
            "-ngl", str(split.ngl)]
    if used and len(used) < n_gpus:
        args += ["-dev", ",".join(f"CUDA{g}" for g in used)]
    if len(used) > 1:
        args += ["-ts", ",".join(str(split.gpu_layers[g]) for g in used)]
    cpu_experts = sorted(set(split.experts_on_cpu))
    if cpu_experts:
        first_gpu = split.cpu_layers
        whole = list(range(first_gpu)) + cpu_experts
        flag = expert_override(whole if whole == list(range(len(whole))) else cpu_experts)
        args += list(flag)
    args += ["-ctk", ctx.type_k, "-ctv", ctx.type_v, "-fa", "on" if ctx.flash_attn else "off", "-ub", str(ctx.n_ubatch),
             "--fit", "off"]
    per_seq = costs.cells(model, ctx)[0] // ctx.n_seq
    env = [f"OLLAMA_NUM_PARALLEL={ctx.n_seq}", f"OLLAMA_FLASH_ATTENTION={1 if ctx.flash_attn else 0}"]
    if ctx.type_k in OLLAMA_KV and ctx.type_k == ctx.type_v:
        env.append(f"OLLAMA_KV_CACHE_TYPE={ctx.type_k}")
    if model.ollama:
        run = f"ollama run {model.ollama.removeprefix('registry.ollama.ai/').removeprefix('library/')}"
    elif model.hf_repo:
        run = f"ollama run hf.co/{model.hf_repo}:{_tag(model)}"
    else:
        run = f"ollama create NAME -f Modelfile (Modelfile: FROM {model.files[0] if model.files else model.source}), then ollama run NAME"
    ollama = [" ".join(env) + " ollama serve",
              f"{run}; in the session: /set parameter num_gpu {split.ngl} and /set parameter num_ctx {per_seq}",
              "Ollama takes the layer count (num_gpu) but splits the GPUs and places experts by its own estimate; "
              "for this exact split run the llama-server command"]
    return args, ollama


def _tag(model: GgufModel) -> str:
    m = re.search(r"[-.]([A-Za-z0-9_]+)(?:-\d{5}-of-\d{5})?\.gguf$", model.hf_file or "")
    return m.group(1) if m else model.quant_label


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
            read += sum(t.nbytes for t in model.output_tensors) or (model.embedding.nbytes if model.embedding else 0)
        if not read:
            continue
        if dev.gpu_type is None:
            return None
        seconds += read / (find_gpu(dev.gpu_type).hbm_gb_per_s * 1e9)
    return 1.0 / seconds if seconds else None

"""llama.cpp's placement as a CP-SAT problem, solved to proven optimality.

llama.cpp's rules are the constraints: the input layer stays on the CPU; the first layers may stay
on the CPU (``-ngl``), the rest form contiguous ranges over the GPUs in device order (``-ts``), the
output layer last; each layer's KV cache lives with the layer; any layer's routed experts may be
sent to the CPU (``-ot``). Every device holds its layers, their KV and its compute buffer: the
logits' on the output layer's device, a copy of the largest CPU-held weight on the first GPU used
when weights stay on the CPU (op offload), four copies of the inputs on each GPU when every layer
runs on several GPUs (pipeline parallelism), the layers' own on the CPU when it runs any. The
objective: fewest bytes read from host memory per generated token (the CPU's weights, routed
experts at the share a token activates), then the most even GPU load (the largest fraction of any
GPU's usable memory in use) - what ``--fit``'s greedy search approximates.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.errors import InfeasibleError


@dataclass(frozen=True)
class LayerCost:
    gpu_bytes: int
    """Weights on a GPU (CUDA padding included) plus the layer's KV cache."""
    cpu_bytes: int
    expert_gpu_bytes: int = 0
    expert_cpu_bytes: int = 0
    read_bytes: int = 0
    """Weight bytes one token reads from this layer (routed experts at the active share)."""
    expert_read_bytes: int = 0


@dataclass(frozen=True)
class LlamaCppProblem:
    layers: tuple[LayerCost, ...]
    """Decoder layers in order, then the output layer (no experts)."""
    gpu_capacity: tuple[int, ...]
    """Usable bytes of each GPU, in device order."""
    gpu_fixed: int
    """Compute buffer of a GPU that runs layers."""
    gpu_fixed_output: int
    """Compute buffer of the GPU that also computes the logits."""
    op_offload_bytes: int
    """The largest CPU-held weight the first GPU copies in to run a prompt batch (op offload)."""
    cpu_capacity: int | None
    cpu_fixed: int
    """Input layer, output buffer and host compute buffer: on the CPU whatever the split."""
    time_limit_s: float = 10.0
    pipeline_bytes: int = 0
    """Added to each used GPU when the split pipelines over several GPUs (nothing on the CPU)."""
    cpu_layers_compute: int = 0
    """Added to the CPU when it runs layers (its compute buffer grows from the host one)."""
    cpu_output_compute: int = 0
    """Added again when the CPU also computes the logits (nothing on a GPU)."""


@dataclass(frozen=True)
class LlamaCppSplit:
    cpu_layers: int
    """Leading slots (decoder layers, then the output layer) kept on the CPU."""
    gpu_layers: tuple[int, ...]
    """Slots on each GPU, in device order (the output layer counts on the last used GPU)."""
    experts_on_cpu: tuple[int, ...]
    """Decoder layers on a GPU whose routed experts stay on the CPU."""
    gpu_bytes: tuple[int, ...]
    gpu_compute: tuple[int, ...]
    """Of ``gpu_bytes``: the compute buffers charged to each GPU."""
    cpu_bytes: int
    cpu_compute: int
    host_read_bytes: int
    proven: bool

    @property
    def ngl(self) -> int:
        return sum(self.gpu_layers)


def solve(problem: LlamaCppProblem) -> LlamaCppSplit:
    """The proven-best split, or InfeasibleError saying by how much the best one falls short."""
    from planner.search.cp_model import load

    cp_model = load()
    layers, gpus = problem.layers, len(problem.gpu_capacity)
    n = len(layers)  # decoder layers + the output layer
    m = cp_model.CpModel()
    on = [[m.new_bool_var(f"x{i}_{g}") for g in range(gpus + 1)] for i in range(n)]  # 0: CPU, g + 1: GPU g
    dev = []
    for i in range(n):
        m.add_exactly_one(on[i])
        dev.append(sum(g * on[i][g] for g in range(gpus + 1)))
        if i:
            m.add(dev[i] >= dev[i - 1])
    experts = [m.new_bool_var(f"e{i}") if layers[i].expert_gpu_bytes else None for i in range(n)]
    moved = _moved(m, experts, on, gpus)
    any_moved = m.new_bool_var("experts_moved")
    if moved:
        m.add_max_equality(any_moved, list(moved.values()))
    else:
        m.add(any_moved == 0)
    cpu_weights = m.new_bool_var("cpu_weights")  # slot 0 on the CPU or experts moved
    m.add_max_equality(cpu_weights, [on[0][0], any_moved])
    used = [m.new_bool_var(f"u{g}") for g in range(1, gpus + 1)]
    for g, u in enumerate(used, start=1):
        m.add_max_equality(u, [on[i][g] for i in range(n)])
    pipeline = _pipeline(m, problem, on, used, any_moved)
    loads, computes = [], []
    scale = 1000
    for g, u in enumerate(used, start=1):
        first = m.new_bool_var(f"first{g}")  # the first GPU used: llama.cpp's backend 0
        m.add(first <= u)
        for h in range(g - 1):
            m.add(first <= 1 - used[h])
        m.add(first >= u - sum(used[: g - 1]))
        compute = problem.gpu_fixed * u + (problem.gpu_fixed_output - problem.gpu_fixed) * on[n - 1][g]
        compute += problem.op_offload_bytes * _and(m, first, cpu_weights) + problem.pipeline_bytes * _and(m, u, pipeline)
        load = (sum(layers[i].gpu_bytes * on[i][g] for i in range(n))
                - sum(layers[i].expert_gpu_bytes * moved[i, g] for i in range(n) if (i, g) in moved) + compute)
        cap = problem.gpu_capacity[g - 1]
        m.add(load <= cap)
        frac = m.new_int_var(0, scale, f"f{g}")
        m.add(frac * cap >= load * scale)
        loads.append((load, frac))
        computes.append(compute)
    cpu_compute = problem.cpu_layers_compute * on[0][0] + problem.cpu_output_compute * on[n - 1][0]
    cpu_resident = [layers[i].cpu_bytes * on[i][0] for i in range(n)]
    for i, e in enumerate(experts):
        if e is not None:
            m.add_implication(on[i][0], e)  # a CPU layer's experts are on the CPU with it
            cpu_resident.append(layers[i].expert_cpu_bytes * (e - on[i][0]))
    cpu_load = problem.cpu_fixed + sum(cpu_resident) + cpu_compute
    if problem.cpu_capacity is not None:
        m.add(cpu_load <= problem.cpu_capacity)
    host_read = [layers[i].read_bytes * on[i][0] for i in range(n)]
    host_read += [layers[i].expert_read_bytes * (e - on[i][0]) for i, e in enumerate(experts) if e is not None]
    worst = m.new_int_var(0, scale, "worst")
    if loads:
        m.add_max_equality(worst, [f for _, f in loads])
    read = sum(host_read)
    m.minimize(read * (scale + 1) + worst)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = problem.time_limit_s
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise InfeasibleError(shortfall_message(problem)) if status == cp_model.INFEASIBLE else InfeasibleError(
            f"llama.cpp split: no split found within {problem.time_limit_s:g} s (raise --time-limit)")
    devs = [solver.value(d) for d in dev]
    return LlamaCppSplit(
        cpu_layers=devs.count(0), gpu_layers=tuple(devs.count(g) for g in range(1, gpus + 1)),
        experts_on_cpu=tuple(i for i, e in enumerate(experts) if e is not None and solver.value(e) and devs[i] > 0),
        gpu_bytes=tuple(solver.value(load) for load, _ in loads), gpu_compute=tuple(solver.value(c) for c in computes),
        cpu_bytes=solver.value(cpu_load), cpu_compute=solver.value(cpu_compute),
        host_read_bytes=solver.value(read), proven=status == cp_model.OPTIMAL)


def _and(m, a, b):
    """A bool equal to a AND b."""
    z = m.new_bool_var("")
    m.add_bool_and([a, b]).only_enforce_if(z)
    m.add_bool_or([a.Not(), b.Not(), z])
    return z


def _pipeline(m, problem: LlamaCppProblem, on, used, any_moved):
    """True when llama.cpp pipelines: every slot on a GPU, two GPUs or more, no expert on the CPU."""
    pipeline = m.new_bool_var("pipeline")
    if len(used) < 2 or not problem.pipeline_bytes:
        m.add(pipeline == 0)
        return pipeline
    several = m.new_bool_var("several")
    m.add(sum(used) >= 2).only_enforce_if(several)
    m.add(sum(used) <= 1).only_enforce_if(several.Not())
    m.add_bool_and([on[0][0].Not(), several, any_moved.Not()]).only_enforce_if(pipeline)
    m.add_bool_or([on[0][0], several.Not(), any_moved, pipeline])
    return pipeline


def _moved(m, experts, on, gpus: int) -> dict:
    """z[i, g] = layer i sits on GPU g and its experts on the CPU (the bytes GPU g is spared)."""
    moved = {}
    for i, e in enumerate(experts):
        if e is None:
            continue
        for g in range(1, gpus + 1):
            moved[i, g] = _and(m, e, on[i][g])
    return moved


def shortfall_message(problem: LlamaCppProblem) -> str:
    """How far the whole machine falls short: every byte that must live somewhere against every byte there is."""
    need = problem.cpu_fixed + sum(min(layer.cpu_bytes, layer.gpu_bytes) for layer in problem.layers)
    have = sum(problem.gpu_capacity) + (problem.cpu_capacity or 0)
    gpu_total = sum(problem.gpu_capacity)
    if problem.cpu_capacity is not None and need > have:
        return (f"llama.cpp split: the model, its KV cache and buffers need {need / 2**30:.2f} GiB and the GPUs and RAM "
                f"hold {have / 2**30:.2f} GiB: {(need - have) / 2**30:.2f} GiB short; shorten the context (-c), "
                "quantize the KV cache (--kv-dtype q8_0) or add memory")
    return (f"llama.cpp split: no split satisfies every device (GPUs hold {gpu_total / 2**30:.2f} GiB usable, each "
            f"also needs {problem.gpu_fixed / 2**30:.2f} GiB of compute buffer); shorten the context, lower "
            "--ubatch-size, or add RAM for the layers kept on the CPU")

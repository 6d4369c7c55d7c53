"""llama.cpp's placement as a CP-SAT problem, solved to proven optimality.

llama.cpp's rules are the constraints: the input layer stays on the CPU; the first layers may stay
on the CPU (``-ngl``), the rest form contiguous ranges over the GPUs in device order (``-ts``), the
output layer last; each layer's KV cache lives with the layer; any layer's routed experts may be
sent to the CPU (``-ot``). Every device holds its layers, their KV, its compute buffer and (CUDA)
its reserve. The objective: fewest bytes read from host memory per generated token (the CPU's
weights, routed experts at the share a token activates), then the most even GPU load (the largest
fraction of any GPU's usable memory in use) - what ``--fit``'s greedy search approximates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    kv_bytes: int = 0


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


@dataclass(frozen=True)
class LlamaCppSplit:
    cpu_layers: int
    """Leading slots (decoder layers, then the output layer) kept on the CPU."""
    gpu_layers: tuple[int, ...]
    """Slots on each GPU, in device order (the output layer counts on the last used GPU)."""
    experts_on_cpu: tuple[int, ...]
    """Decoder layers on a GPU whose routed experts stay on the CPU."""
    gpu_bytes: tuple[int, ...]
    cpu_bytes: int
    host_read_bytes: int
    proven: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def ngl(self) -> int:
        return sum(self.gpu_layers)


def device_of_slots(split: LlamaCppSplit, n_slots: int) -> list[int]:
    """Device per slot: -1 for the CPU, else the GPU index."""
    out = [-1] * split.cpu_layers
    for g, n in enumerate(split.gpu_layers):
        out += [g] * n
    assert len(out) == n_slots
    return out


def solve(problem: LlamaCppProblem) -> LlamaCppSplit:
    """The proven-best split, or InfeasibleError saying by how much the best one falls short."""
    from ortools.sat.python import cp_model

    layers, gpus = problem.layers, len(problem.gpu_capacity)
    n = len(layers)  # decoder layers + the output layer
    m = cp_model.CpModel()
    dev = [m.new_int_var(0, gpus, f"d{i}") for i in range(n)]  # 0: CPU, g + 1: GPU g
    on = [[m.new_bool_var(f"x{i}_{g}") for g in range(gpus + 1)] for i in range(n)]
    for i in range(n):
        m.add_exactly_one(on[i])
        m.add(dev[i] == sum(g * on[i][g] for g in range(gpus + 1)))
        if i:
            m.add(dev[i] >= dev[i - 1])
    experts = [m.new_bool_var(f"e{i}") if layers[i].expert_gpu_bytes else None for i in range(n)]
    moved = _moved(m, experts, on, gpus)
    used = []
    any_cpu_weight = m.new_bool_var("cpu_weights")
    for i in range(n):
        m.add_implication(on[i][0], any_cpu_weight)
        if experts[i] is not None:
            m.add_implication(experts[i], any_cpu_weight)
    loads = []
    scale = 1000
    for g in range(1, gpus + 1):
        u = m.new_bool_var(f"u{g}")
        m.add_max_equality(u, [on[i][g] for i in range(n)])
        used.append(u)
        last = on[n - 1][g]
        load = (sum(layers[i].gpu_bytes * on[i][g] for i in range(n))
                - sum(layers[i].expert_gpu_bytes * moved[i, g] for i in range(n) if (i, g) in moved)
                + problem.gpu_fixed * u + (problem.gpu_fixed_output - problem.gpu_fixed) * last)
        if g == 1 and problem.op_offload_bytes:
            extra = m.new_bool_var("op_offload")
            m.add_bool_and([u, any_cpu_weight]).only_enforce_if(extra)
            m.add_bool_or([u.Not(), any_cpu_weight.Not(), extra])
            load += problem.op_offload_bytes * extra
        cap = problem.gpu_capacity[g - 1]
        m.add(load <= cap)
        frac = m.new_int_var(0, scale, f"f{g}")
        m.add(frac * cap >= load * scale)
        loads.append((load, frac))
    cpu_resident = []
    for i in range(n):
        cpu_resident.append(layers[i].cpu_bytes * on[i][0])
        if experts[i] is not None:
            cpu_resident.append(layers[i].expert_cpu_bytes * (experts[i] - on[i][0]))
    cpu_load = problem.cpu_fixed + sum(cpu_resident)
    if problem.cpu_capacity is not None:
        m.add(cpu_load <= problem.cpu_capacity)
    host_read = []
    for i in range(n):
        host_read.append(layers[i].read_bytes * on[i][0])
        if experts[i] is not None:  # experts of a CPU layer are already in read_bytes
            m.add_implication(on[i][0], experts[i])
            host_read.append(layers[i].expert_read_bytes * (experts[i] - on[i][0]))
    worst = m.new_int_var(0, scale, "worst")
    if loads:
        m.add_max_equality(worst, [f for _, f in loads])
    read_kib = sum(host_read)
    m.minimize(read_kib * (scale + 1) + worst)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = problem.time_limit_s
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    status = solver.solve(m)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise InfeasibleError(shortfall_message(problem)) if status == cp_model.INFEASIBLE else InfeasibleError(
            f"llama.cpp split: no split found within {problem.time_limit_s:g} s (raise --time-limit)")
    devs = [solver.value(d) for d in dev]
    cpu_layers = devs.count(0)
    gpu_layers = tuple(devs.count(g) for g in range(1, gpus + 1))
    moved_layers = tuple(i for i, e in enumerate(experts) if e is not None and solver.value(e) and devs[i] > 0)
    return LlamaCppSplit(
        cpu_layers=cpu_layers, gpu_layers=gpu_layers, experts_on_cpu=moved_layers,
        gpu_bytes=tuple(solver.value(load) for load, _ in loads), cpu_bytes=solver.value(cpu_load),
        host_read_bytes=solver.value(read_kib), proven=status == cp_model.OPTIMAL)


def _moved(m, experts, on, gpus: int) -> dict:
    """z[i, g] = layer i sits on GPU g and its experts on the CPU (the bytes GPU g is spared)."""
    moved = {}
    for i, e in enumerate(experts):
        if e is None:
            continue
        for g in range(1, gpus + 1):
            z = m.new_bool_var(f"z{i}_{g}")
            m.add_implication(z, e)
            m.add_implication(z, on[i][g])
            m.add_bool_or([e.Not(), on[i][g].Not(), z])
            moved[i, g] = z
    return moved


def shortfall_message(problem: LlamaCppProblem) -> str:
    """How far the whole machine falls short: every byte that must live somewhere against every byte there is."""
    need = problem.cpu_fixed + sum(min(layer.cpu_bytes, layer.gpu_bytes) for layer in problem.layers)
    have = sum(problem.gpu_capacity) + (problem.cpu_capacity or 0)
    gpu_total = sum(problem.gpu_capacity)
    if problem.cpu_capacity is not None and need > have:
        return (f"llama.cpp split: the model, its KV cache and buffers need {need / 2**30:.2f} GiB and the GPUs and RAM "
                f"hold {have / 2**30:.2f} GiB: {(need - have) / 2**30:.2f} GiB short; shorten the context (-c), "
                "quantize the KV cache (--cache-type-k/v q8_0) or add memory")
    return (f"llama.cpp split: no split satisfies every device (GPUs hold {gpu_total / 2**30:.2f} GiB usable, each "
            f"also needs {problem.gpu_fixed / 2**30:.2f} GiB of compute buffer); shorten the context, lower "
            "--ubatch-size, or add RAM for the layers kept on the CPU")

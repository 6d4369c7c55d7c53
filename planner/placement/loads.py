"""What each device holds under an assignment: the one accounting rule every part shares.

The CP-SAT model encodes these rules as constraints, ``verify`` re-checks them, and tables and
JSON print them; keeping them in one pure function keeps the three in agreement.

- A GPU holds the weights and KV cache of its items, the largest activation peak among them,
  and its reserve once it holds anything.
- Offloaded items (on CPU or disk) run on the *execution device*: the lowest-numbered GPU in
  use, as accelerate's ``dispatch_model`` picks it. That GPU also holds their KV cache and
  activations, and room to bring in the largest of them (the onload buffer).
- The CPU holds its items' weights and, when anything is on disk, room to stage the largest
  disk item. With no GPU in use the CPU executes everything and holds all KV and activations.
- Weights held on the CPU or disk, staged there or onloaded from there are an item's *hosted*
  weights (``Item.hosted``): more than on a GPU where the engine keeps offloaded modules
  unquantized (bitsandbytes in transformers). An offloaded item's buffers stay on the execution
  device (accelerate's ``offload_buffers=False``), with its KV cache.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.placement.problem import UTIL_SCALE, Problem
from planner.recent import by_identity


@dataclass(frozen=True, slots=True)
class DeviceLoad:
    weights_bytes: int = 0
    kv_bytes: int = 0
    activation_bytes: int = 0
    buffer_bytes: int = 0
    """Room to onload the largest offloaded item (execution GPU) or stage a disk item (CPU)."""
    reserve_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_bytes + self.activation_bytes + self.buffer_bytes + self.reserve_bytes


def held_alone(room: int, each: int, act: int) -> int | None:
    """How many items of one shape (weights + KV ``each`` bytes, activation ``act``) a GPU with
    ``room`` bytes beside its reserve holds with nothing else: 0 when not one fits, None when any
    number does (items of no bytes of their own)."""
    if room < act + each:
        return 0
    return (room - act) // each if each else None


def execution_device(problem: Problem, assignment: tuple[int, ...]) -> int | None:
    """Lowest-numbered GPU holding an item; the CPU when no GPU does."""
    used = set(assignment)
    return next((d for d in problem.gpu_indices if d in used), problem.cpu)


def offloaded_items(problem: Problem, assignment: tuple[int, ...]) -> list[int]:
    """Items whose weights travel to the execution device on every forward pass."""
    exec_dev = execution_device(problem, assignment)
    away = {problem.disk} if exec_dev == problem.cpu else {problem.cpu, problem.disk}
    away.discard(None)
    return [i for i, d in enumerate(assignment) if d in away]


def device_loads(problem: Problem, assignment: tuple[int, ...]) -> tuple[DeviceLoad, ...]:
    """What each device holds (the module docstring's rules)."""
    return _device_loads(problem, tuple(assignment))


@by_identity(32)  # one plan is checked, scored and printed by several callers (verify, objectives, table)
def _device_loads(problem: Problem, assignment: tuple[int, ...]) -> tuple[DeviceLoad, ...]:
    items = problem.items
    exec_dev = execution_device(problem, assignment)
    offloaded = offloaded_items(problem, assignment)
    held: list[list[int]] = [[] for _ in problem.devices]
    for i, a in enumerate(assignment):
        if 0 <= a < len(held):
            held[a].append(i)
    loads = []
    for d, dev in enumerate(problem.devices):
        own = held[d]
        runs_here = own + (offloaded if d == exec_dev else [])
        if d == exec_dev and dev.kind == "cpu":
            runs_here = own + [i for i in offloaded if i not in own]
        hosted = dev.kind != "gpu"  # what a CPU or disk holds of an item is its hosted weights
        weights = sum(items[i].hosted if hosted else items[i].weights_bytes for i in own)
        if d == exec_dev:  # the buffers of what it runs from the host stay here
            weights += sum(items[i].buffer_bytes for i in (offloaded if dev.kind == "gpu" else runs_here))
        if dev.kind == "disk":
            loads.append(DeviceLoad(weights_bytes=weights))
            continue
        if dev.kind == "cpu" and d != exec_dev:
            on_disk = [items[i].hosted for i, a in enumerate(assignment) if a == problem.disk]
            loads.append(DeviceLoad(weights_bytes=weights, buffer_bytes=max(on_disk, default=0)))
            continue
        if dev.kind == "cpu":
            on_disk = [items[i].hosted for i in offloaded]
            buffer = max(on_disk, default=0)
        else:
            buffer = max((items[i].hosted for i in offloaded), default=0) if d == exec_dev else 0
        loads.append(DeviceLoad(
            weights_bytes=weights,
            kv_bytes=sum(items[i].kv_bytes for i in runs_here),
            activation_bytes=max((items[i].activation_bytes for i in runs_here), default=0),
            buffer_bytes=buffer,
            reserve_bytes=dev.reserve_bytes if runs_here else 0,
        ))
    return tuple(loads)


def offload_ns(problem: Problem, assignment: tuple[int, ...]) -> int:
    """Transfer time per forward pass of everything offloaded."""
    exec_dev = execution_device(problem, assignment)
    return sum(
        problem.offload_ns[i][d] for i, d in enumerate(assignment)
        if d == problem.disk or (d == problem.cpu and exec_dev != problem.cpu)
    )


def utilization(load_bytes: int, capacity_bytes: int) -> int:
    """A GPU's fill in 1/UTIL_SCALE, rounded up: the figure the utilization stage minimises."""
    return -(-load_bytes * UTIL_SCALE // capacity_bytes)


def objective_key(problem: Problem, assignment: tuple[int, ...]) -> tuple[int, ...]:
    """The solver's objectives in stage order, for comparing plans lexicographically."""
    return tuple(objective_values(problem, assignment).values())


def objective_values(problem: Problem, assignment: tuple[int, ...]) -> dict[str, int]:
    """The solver's objectives (solver.py stages) measured on any assignment: offload time,
    GPUs in use or their price, the fullest GPU in 1/UTIL_SCALE, and runs (GPUs in use plus,
    per offload tier, the blocks with items there)."""
    loads = device_loads(problem, assignment)
    used = [g for g in problem.gpu_indices if loads[g].total_bytes]
    out = {"offload_ns": offload_ns(problem, assignment)}
    if problem.objective == "gpus":
        out["gpus"] = len(used)
    elif problem.objective == "cost":
        prices = problem.gpu_prices()
        out["price"] = sum(prices[g] for g in used)
    if problem.gpu_indices:
        out["max_utilization"] = max(utilization(loads[g].total_bytes, problem.devices[g].capacity_bytes)
                                     for g in problem.gpu_indices)
    away = [d for d in (problem.cpu, problem.disk) if d is not None] if problem.gpu_indices else [problem.disk]
    out["runs"] = len(used) + sum(1 for first, size in problem.blocks for d in away
                                  if d is not None and any(assignment[i] == d for i in range(first, first + size)))
    return out

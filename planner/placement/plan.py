"""Plan: the answer to "where does each part of this model go", with the numbers behind it.

``make_plan`` runs the whole pipeline (problem -> greedy hint -> CP-SAT -> verify -> diagnosis
when nothing fits) and returns a Plan that every exporter formats without recomputing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from planner.costs.profile import Profile, on_gpu
from planner.hardware.inventory import Inventory
from planner.placement.device_map import collapse
from planner.placement.loads import DeviceLoad, device_loads, execution_device, offload_ns
from planner.placement.problem import Problem, build_problem


@dataclass(frozen=True)
class DevicePlan:
    key: int | str
    kind: str
    label: str
    capacity_bytes: int
    load: DeviceLoad
    units: tuple[str, ...]
    """Units held, in model order (offloaded units it runs are not listed here)."""

    @property
    def free_bytes(self) -> int:
        return self.capacity_bytes - self.load.total_bytes

    @property
    def utilization(self) -> float:
        return self.load.total_bytes / self.capacity_bytes


@dataclass(frozen=True)
class Baseline:
    """What accelerate's ``device_map="auto"`` does on the same devices (weights only)."""

    offload_bytes: int
    disk_bytes: int
    max_utilization: float
    violations: tuple[str, ...]
    """Rules its map breaks under the planner's accounting (KV, activations, reserve)."""


@dataclass(frozen=True)
class Plan:
    status: str
    """optimal | feasible | infeasible | unknown (no plan found within the time limit, none ruled out)"""
    profile: Profile
    problem: Problem
    assignment: tuple[int, ...] | None
    devices: tuple[DevicePlan, ...] = ()
    device_map: dict[str, int | str] = field(default_factory=dict)
    objectives: dict[str, int] = field(default_factory=dict)
    gap: float = 0.0
    solve_seconds: float = 0.0
    offload_folder: str | None = None
    execution_device: int | str | None = None
    baseline: Baseline | None = None
    diagnosis: object | None = None
    """A ``Diagnosis`` when infeasible."""
    hops: tuple = ()
    """Hidden states crossing between consecutive GPUs (placement/gpu_order.Hop), when the
    inventory gives its islands."""

    @property
    def fits(self) -> bool | None:
        """The one verdict (the CLI's exit status, the what-if row, the API): a plan was found; False
        when none can exist; None when the time limit ran out before either was proven."""
        return True if self.status in ("optimal", "feasible") else False if self.status == "infeasible" else None

    @property
    def offload_bytes(self) -> int:
        return sum(d.load.weights_bytes for d in self.devices if d.kind != "gpu" and d.key != self.execution_device)

    @property
    def offload_seconds_per_pass(self) -> float:
        return offload_ns(self.problem, self.assignment) / 1e9 if self.assignment else 0.0

    @property
    def decode_tokens_per_s(self) -> float | None:
        """Generated tokens per second the plan can reach at most, all sequences together: each decode
        step is one forward pass, which moves every offloaded weight across its link and reads every
        GPU-resident weight and KV byte from that GPU's memory at its catalog bandwidth (a memory-bound
        ceiling; compute and kernel overheads only lower it). None without a placement, or when a GPU
        holding weights is known by its size only (no bandwidth to read at)."""
        from planner.catalog import find_gpu

        if not self.assignment:
            return None
        seconds = self.offload_seconds_per_pass
        for d, dev in zip(self.devices, self.problem.devices, strict=True):
            if d.kind != "gpu" or not (d.load.weights_bytes or d.load.kv_bytes):
                continue
            if dev.gpu_type is None:
                return None
            seconds += (d.load.weights_bytes + d.load.kv_bytes) / (find_gpu(dev.gpu_type).hbm_gb_per_s * 1e9)
        return self.profile.workload.batch / seconds if seconds > 0 else None

    @property
    def max_memory(self) -> dict[int | str, int]:
        """Per device, the bytes the plan lets tensors use (capacity less the GPU reserve)."""
        return {d.key: d.capacity_bytes - (self.problem.devices[k].reserve_bytes if d.kind == "gpu" else 0)
                for k, d in enumerate(self.devices)}


def unit_keys(problem: Problem, assignment: tuple[int, ...]) -> tuple[list[str], list[int | str]]:
    """Unit names in model order and the device key of each."""
    pairs = sorted((u, name, problem.devices[d].key) for it, d in zip(problem.items, assignment, strict=True)
                   for u, name in zip(it.units, it.names, strict=True))
    return [name for _, name, _ in pairs], [key for _, _, key in pairs]


def _baseline(problem: Problem, keys: list[int | str]) -> Baseline:
    """accelerate's answer (``keys``, one per item) judged by the planner's accounting."""
    from planner.placement.loads import offloaded_items
    from planner.placement.verify import verify

    index = {dev.key: d for d, dev in enumerate(problem.devices)}
    sizes = [it.hosted for it in problem.items]  # what sits on the CPU or disk, as the plan counts its own
    disk = sum(s for s, k in zip(sizes, keys, strict=True) if k == "disk")
    if any(k not in index for k in keys):
        off = sum(s for s, k in zip(sizes, keys, strict=True) if k in ("cpu", "disk"))
        return Baseline(off, disk, 0.0, ("overflows to disk, which the inventory does not have",))
    assignment = tuple(index[k] for k in keys)
    off = sum(sizes[i] for i in offloaded_items(problem, assignment))
    loads = device_loads(problem, assignment)
    util = max((loads[g].total_bytes / problem.devices[g].capacity_bytes for g in problem.gpu_indices), default=0.0)
    return Baseline(off, disk, util, tuple(verify(problem, assignment)))


def plan_from_assignment(problem: Problem, profile: Profile, assignment: tuple[int, ...], **fields) -> Plan:
    loads = device_loads(problem, assignment)
    names, keys = unit_keys(problem, assignment)
    devices = tuple(
        DevicePlan(dev.key, dev.kind, dev.label, dev.capacity_bytes, load,
                   tuple(n for n, k in zip(names, keys, strict=True) if k == dev.key))
        for dev, load in zip(problem.devices, loads, strict=True))
    exec_dev = execution_device(problem, assignment)
    uses_disk = any(k == "disk" for k in keys)
    folder = fields.pop("offload_folder", "offload")
    return Plan(
        devices=devices, device_map=collapse(names, keys), assignment=assignment, problem=problem, profile=profile,
        execution_device=problem.devices[exec_dev].key if exec_dev is not None else None,
        offload_folder=folder if uses_disk else None, **fields)


def make_plan(
    profile: Profile,
    inventory: Inventory,
    objective: str = "gpus",
    pins: Mapping[str, int | str] | None = None,
    weights_only: bool = False,
    time_limit_s: float = 1.0,
    offload_folder: str = "offload",
    diagnose: bool = True,
) -> Plan:
    from planner.placement.greedy import accelerate_greedy, keys_to_assignment
    from planner.placement.solver import solve
    from planner.placement.verify import verify

    profile = on_gpu(profile, inventory.gpu0_type, bool(inventory.gpus))  # the quantizers check CUDA device 0
    problem = build_problem(profile, inventory, objective, pins, weights_only)
    greedy = accelerate_greedy(problem, profile)  # once: the solver's hint and the baseline
    hint = keys_to_assignment(problem, greedy) if not pins else None
    solution = solve(problem, hint, time_limit_s)
    baseline = _baseline(problem, greedy)
    if solution.assignment is None:
        diagnosis = None
        if diagnose:
            from planner.placement.diagnose import diagnose as run_diagnosis

            diagnosis = run_diagnosis(problem, profile, inventory, objective, pins, weights_only,
                                      time_limit_s=time_limit_s)
        status = "infeasible" if solution.status == "infeasible" else "unknown"
        return Plan(status, profile, problem, None, solve_seconds=solution.solve_seconds, baseline=baseline,
                    diagnosis=diagnosis)
    broken = verify(problem, solution.assignment)
    if broken:  # the model and the accounting disagree: a bug, never a user error
        raise AssertionError(f"solver plan breaks its own rules: {broken[0]}")
    assignment, hops = _ordered(problem, profile, inventory, solution.assignment)
    return plan_from_assignment(problem, profile, assignment, status=solution.status,
                                objectives=solution.objectives, gap=solution.gap, solve_seconds=solution.solve_seconds,
                                offload_folder=offload_folder, baseline=baseline, hops=hops)


def _ordered(problem: Problem, profile: Profile, inventory: Inventory, assignment: tuple[int, ...]):
    """The plan's GPUs chosen with the machine's topology (placement/gpu_order.py), kept only when
    it proves every objective unchanged; and its hops (none without a topology)."""
    if inventory.layout is None:
        return assignment, ()
    from planner.placement.gpu_order import hops, order_gpus
    from planner.placement.loads import objective_values
    from planner.placement.verify import verify
    from planner.units import DTYPE_BITS

    w = profile.workload
    nbytes = w.batch * w.prompt_tokens * profile.spec.hidden_size * DTYPE_BITS[profile.dtype] // 8
    moved = order_gpus(problem, assignment, inventory.layout, nbytes)
    if moved != assignment and (verify(problem, moved) or objective_values(problem, moved) != objective_values(problem, assignment)):
        moved = assignment
    return moved, hops(problem, moved, inventory.layout, nbytes)


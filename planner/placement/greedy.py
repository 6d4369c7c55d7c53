"""accelerate's ``device_map="auto"``, rebuilt over placement units: the baseline to beat and
the solver's warm start.

What it reproduces (accelerate 1.x ``get_balanced_memory`` + ``infer_auto_device_map``, read
from its source, and checked against it in tests/test_plan_hf.py):
- modules are taken in order from the top of the module tree; a module that does not fit on the
  current device is split into its children unless it is a no-split block, else the device is
  closed for good and the next one is tried: GPUs in order, then CPU, then disk (always
  appended, unlimited);
- GPU 0 and the CPU keep room for the largest layer still to place (the onload reserve), whether
  or not anything is offloaded;
- tied modules go with the module that holds the first of them;
- ``balanced`` caps every GPU but the last at total / n + 1.25 x max(a no-split block, the mean
  leaf module).
Placement units are never split further (accelerate could split, e.g., a projector's two
Linears across devices); that is the one place the two can differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.costs.profile import Profile
from planner.costs.weights import module_bytes
from planner.placement.problem import Problem
from planner.recent import by_identity
from planner.units import DTYPE_BITS


@dataclass
class _Node:
    name: str
    size: int = 0
    units: list[int] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)
    unit: int | None = None
    """Unit index when this node is a placement unit (never split)."""


def _tree(names: list[str], sizes: list[int]) -> list[_Node]:
    root = _Node("")
    index: dict[str, _Node] = {"": root}
    for u, name in enumerate(names):
        parts = name.split(".")
        parent = root
        for k in range(1, len(parts) + 1):
            path = ".".join(parts[:k])
            node = index.get(path)
            if node is None:
                node = index[path] = _Node(path)
                parent.children.append(node)
            node.size += sizes[u]
            node.units.append(u)
            parent = node
        parent.unit = u
        parent.children = []
    return root.children


@dataclass(frozen=True)
class _ModelSide:
    """What the greedy reads of the model alone, the same for every inventory and workload."""

    layers: tuple[int, ...]
    """accelerate's "layer" of each unit: the whole unit if it is a no-split block or a leaf
    module, else its largest leaf module."""
    slack: int
    """get_balanced_memory's headroom per GPU: 1.25 x max(the first no-split block, the mean leaf)."""


@by_identity(16)  # per model and storage: the diagnosis and sweeps place one model many times
def _model_side(spec, bits: int, scheme) -> _ModelSide:
    """Module sizes read once for the layer sizes and the balanced budgets (DeepSeek-R1 has
    about 44k expert modules)."""
    sizes = [module_bytes(unit, bits, scheme) for unit in spec.units]
    totals = [sum(mods.values()) for mods in sizes]
    layers, firsts = [], {}
    for unit, total, mods in zip(spec.units, totals, sizes, strict=True):
        inner = [m for m in mods if m != unit.name]
        if unit.block_class in spec.no_split_modules:
            firsts.setdefault(unit.block_class, total)
        if unit.block_class in spec.no_split_modules or not inner:
            layers.append(total)
        else:
            leaves = [m for m in mods if not any(o.startswith(m + ".") for o in mods)]
            layers.append(max(mods[m] for m in leaves))
    modules: dict[str, int] = {}
    for unit_sizes in sizes:
        for owner, nbytes in unit_sizes.items():
            parts = owner.split(".")
            for k in range(1, len(parts) + 1):
                path = ".".join(parts[:k])
                modules[path] = modules.get(path, 0) + nbytes
    parents = {m.rpartition(".")[0] for m in modules if "." in m}
    leaves = [m for m in modules if m not in parents]
    mean_leaf = int(sum(modules[m] for m in leaves) / max(len(leaves), 1))
    return _ModelSide(tuple(layers), int(1.25 * max(max(firsts.values(), default=0), mean_leaf)))


def _side(profile: Profile) -> _ModelSide:
    return _model_side(profile.spec, DTYPE_BITS[profile.dtype], profile.quant)


def balanced_caps(profile: Profile, caps: dict[int, int]) -> dict[int, int]:
    """accelerate's ``get_balanced_memory`` for GPU budgets ``caps`` (GPU index -> bytes)."""
    gpus = sorted(k for k, v in caps.items() if v > 0)
    if len(gpus) < 2:
        return dict(caps)
    total = sum(u.weights_bytes for u in profile.units)
    per_gpu = total // len(gpus) + _side(profile).slack
    out = dict(caps)
    for g in gpus[:-1]:
        out[g] = min(per_gpu, caps[g])
    return out


def _caps(problem: Problem, profile: Profile, balanced: bool) -> dict[int | str, int | None]:
    """accelerate's max_memory for the greedy: GPUs (balanced as get_balanced_memory does), the
    CPU, and a disk without limit (accelerate can always offload to disk)."""
    gpu_caps = {dev.key: dev.usable_bytes for dev in problem.devices if dev.kind == "gpu"}
    if balanced:
        gpu_caps = balanced_caps(profile, gpu_caps)
    caps: dict[int | str, int | None] = dict(gpu_caps)
    if problem.cpu is not None:
        caps["cpu"] = problem.devices[problem.cpu].capacity_bytes
    caps["disk"] = None
    return caps


def _tied_holders(node, queue: list, partners: dict[int, list[int]]) -> list:
    """The queued nodes holding a unit tied to one of ``node``'s (they must land with it)."""
    inside = set(node.units)
    out = []
    for p in sorted({p for u in node.units for p in partners[u] if p not in inside}):
        holder = next(n for n in queue if p in n.units)
        if holder not in out:
            out.append(holder)
    return out


def accelerate_greedy(problem: Problem, profile: Profile, balanced: bool = True) -> list[int | str]:
    """Device key (GPU index, "cpu" or "disk") of each problem item, as accelerate would choose
    with ``max_memory`` = each device's capacity less its reserve. Disk is always available to
    accelerate, so an item may land on "disk" even when the inventory has none."""
    names = [u.name for u in profile.units]
    sizes = [u.weights_bytes for u in profile.units]
    layers = _side(profile).layers
    item_of = {u: i for i, it in enumerate(problem.items) for u in it.units}
    partners = {u: [v for v in problem.items[item_of[u]].units if v != u] for u in range(len(names))}
    caps = _caps(problem, profile, balanced)
    order = list(caps)
    gpu_keys = [k for k in order if k not in ("cpu", "disk")]
    main = {gpu_keys[0], "cpu"} if gpu_keys else {"cpu"}
    queue = _tree(names, sizes)

    def max_layer(nodes: list[_Node]) -> tuple[int, list[str]]:
        """Largest layer among the units under ``nodes`` and the units that reach it."""
        best, who = 0, []
        for u in (u for node in nodes for u in node.units):
            if layers[u] > best:
                best, who = layers[u], [names[u]]
            elif layers[u] == best:
                who.append(names[u])
        return best, who

    used = dict.fromkeys(order, 0)
    placed: dict[int, int | str] = {}
    cur = 0
    largest, largest_names = max_layer(queue)
    while queue:
        node = queue.pop(0)
        largest_names = [n for n in largest_names if n != node.name and not n.startswith(node.name + ".")]
        if not largest_names:
            largest, largest_names = max_layer(queue)
        tied_nodes = _tied_holders(node, queue, partners)
        size = node.size + sum(n.size for n in tied_nodes)
        dev = order[cur]
        cap = caps[dev]
        reserved = largest if dev in main else 0
        if cap is not None:
            cap -= reserved
        if cap is None or used[dev] + size <= cap:
            used[dev] += size
            for n in [node, *tied_nodes]:
                for u in n.units:
                    placed[u] = dev
                if n is not node:
                    queue.remove(n)
            continue
        if tied_nodes and used[dev] + node.size <= cap:
            splittable = next((n for n in tied_nodes if n.unit is None), None)
            if splittable is not None:
                at = queue.index(splittable)
                queue[at:at + 1] = splittable.children
                queue.insert(0, node)
                largest, largest_names = max_layer(queue)
                continue
        if used[dev] + node.size >= cap and node.unit is None:
            queue[0:0] = node.children
            largest, largest_names = max_layer(queue)
            continue
        used[dev] += reserved
        cur += 1
        queue.insert(0, node)
    return [placed[it.units[0]] for it in problem.items]


def keys_to_assignment(problem: Problem, keys: list[int | str]) -> tuple[int, ...] | None:
    """Device indices of a greedy answer, or None when it uses a device the inventory lacks."""
    index = {dev.key: d for d, dev in enumerate(problem.devices)}
    if any(k not in index for k in keys):
        return None
    return tuple(index[k] for k in keys)

"""The CP-SAT model of a placement problem, built from ``Problem`` data only.

Items are grouped into blocks b of consecutive interchangeable items (same bytes; e.g. 126
identical decoder layers), so the model places counts, which removes the symmetry between
identical layers that would otherwise make optimality proofs slow.

Notation: devices d (GPUs g, then CPU c, then disk k); size_b items in block b with weights
w_b, KV kv_b, activation peak a_b.
  n[b, d]  items of block b on device d (integer)          y[b, d] = 1 iff n[b, d] > 0 (n itself when 0..1)
  used[g]  GPU g holds something                          first[g] = g is the execution device,
  off[b]   block b has items on CPU or disk                          the lowest-numbered GPU used
  (first[g] only for the GPUs allowed to execute: all, unless the solver proved the offload
  stage and narrowed them, solver._settled_executors; GPUs below the lowest of those hold nothing)
Constraints (each mirrors a rule of ``loads.device_loads``):
  sum_d n[b, d] = size_b                                         every item placed once
  sum_b n[b,g](w_b + kv_b) + act[g] + buf[g] + kvx[g] + reserve_g used[g] <= cap_g
    act[g] >= a_b if y[b,g];  act[g] >= A if first[g]          largest activation peak it runs
    buf[g] >= B if first[g]                                     room to onload an offloaded item
    kvx[g] >= K if first[g]                                     KV (and buffers) of the layers it runs for the host
  with, once for the model, A >= a_b and B >= h_b if off[b], K >= sum_b (kv_b + f_b)(n[b,c] + n[b,k]):
  the offloaded blocks' largest activation and weights and their KV (one bound each, not one
  per GPU and block)
  sum_b n[b,c] h_b + stage <= cap_c,  stage >= h_b if y[b,k]     the CPU stages one disk item at a time
  sum_b n[b,k] h_b <= cap_k
  (h_b: a block's hosted weights, what the CPU or disk holds of it, which B also bounds; f_b its
  buffers, which accelerate keeps on the execution device when the block is offloaded)
  one contiguous run per GPU along the sequence of blocks: its blocks form one interval
  (at most one start, a start being a held block after one not held: clauses and an
  at-most-one), the blocks strictly inside are wholly its own, and at most one GPU crosses
  each boundary between blocks
  used[g] >= used[g'] for interchangeable neighbours g < g'     symmetry breaking
Objectives, lexicographic (solver.py): offload time; GPUs or price; max utilization; runs.
With ``slack`` every capacity may be exceeded by over[d] >= 0; the least total over is what an
infeasible problem falls short by.
"""

from __future__ import annotations

from dataclasses import replace

from planner.placement.loads import held_alone
from planner.placement.problem import UTIL_SCALE, Item, Problem
from planner.search.cp_model import load

cp_model = load()

MAX_COEFFICIENT = 2**28
"""CP-SAT 9.15's presolve wrongly proved a feasible placement infeasible when a byte count above
2^32 was a coefficient (a 4.7 GB fp32 embedding); coefficients are kept below this bound."""


def _unit(largest: int) -> int:
    unit = 1
    while largest > MAX_COEFFICIENT * unit:
        unit *= 2
    return unit


def scaled(problem: Problem) -> tuple[Problem, int]:
    """The problem in units of ``unit`` bytes (a power of two, 1 for small problems): needs rounded
    up, capacities down, so a placement that fits here fits to the byte. Offload costs are scaled
    the same way, in their own unit."""
    items, devices = problem.items, problem.devices
    unit = _unit(max([1] + [max(it.weights_bytes + it.kv_bytes, it.hosted + it.kv_bytes, it.activation_bytes) for it in items]
                     + [d.reserve_bytes for d in devices]))
    ns_unit = _unit(max([1] + [c for row in problem.offload_ns for c in row]))

    def up(x: int, u: int = unit) -> int:
        return -(-x // u)

    if unit == 1 and ns_unit == 1:
        return problem, 1
    return replace(
        problem,
        items=tuple(Item(it.units, it.names, up(it.weights_bytes), up(it.kv_bytes), up(it.activation_bytes), it.allowed,
                         it.in_sequence, -1 if it.host_weights_bytes < 0 else up(it.host_weights_bytes),
                         up(it.buffer_bytes)) for it in items),
        devices=tuple(replace(d, capacity_bytes=d.capacity_bytes // unit, reserve_bytes=up(d.reserve_bytes)) for d in devices),
        offload_ns=tuple(tuple(up(c, ns_unit) for c in row) for row in problem.offload_ns),
    ), unit


class PlacementModel:
    UTIL_SCALE = UTIL_SCALE
    def __init__(self, problem: Problem, slack: bool = False, executors: tuple[int, ...] | None = None):
        """``executors``: the GPUs allowed to be the execution device (all when None); those below
        the lowest of them hold nothing and get no variables."""
        self.problem = problem
        p, self.unit = scaled(problem)
        self.scaled = p
        self.model = cp_model.CpModel()
        self.blocks = problem.blocks
        self.gpus = p.gpu_indices
        self.executors = self.gpus if executors is None else tuple(g for g in self.gpus if g in executors)
        lowest = min(self.executors, default=None)
        self.idle = frozenset(g for g in self.gpus if lowest is None or g < lowest)
        self._counts(tight=not slack)
        self.over = {d: self.model.new_int_var(0, _total(p), f"over[{d}]") for d in range(len(p.devices))} if slack else {}
        self._used_and_first()
        self._offloaded()
        if self.off:
            self._offload_extras()
        self.load = {g: self._gpu_capacity(g) for g in self.gpus}
        self._host_capacity()
        self._contiguity()
        for a, b in p.symmetric_pairs():
            self.model.add_implication(self.used[b], self.used[a])

    def _counts(self, tight: bool = True) -> None:
        """n[b, d] items of block b on device d, y[b, d] = n[b, d] > 0; every item placed once.
        With ``tight`` (no slack on capacities) a GPU's count is bounded by how many of the
        block's items it holds alone, and a GPU that holds none gets no variable: the domains
        CP-SAT's presolve would find, which the search runs without (cpsat_run.py)."""
        m, items, devices = self.model, self.scaled.items, self.scaled.devices
        self.n: dict[tuple[int, int], cp_model.IntVar] = {}
        self.y: dict[tuple[int, int], cp_model.IntVar] = {}
        for b, (i, size) in enumerate(self.blocks):
            it = items[i]
            for d in it.allowed:
                if d in self.idle:
                    continue
                most = size
                if tight and devices[d].kind == "gpu":
                    alone = held_alone(devices[d].usable_bytes, it.weights_bytes + it.kv_bytes, it.activation_bytes)
                    most = size if alone is None else min(size, alone)
                if most == 0:
                    continue
                if most == 1 and tight:  # a count of 0 or 1 is its own "holds any" literal
                    self.n[b, d] = self.y[b, d] = m.new_bool_var(f"n[{b},{d}]")
                    continue
                n = self.n[b, d] = m.new_int_var(0, most, f"n[{b},{d}]")
                y = self.y[b, d] = m.new_bool_var(f"y[{b},{d}]")
                m.add(n >= y)  # y = (n > 0), as two plain inequalities (cheaper to build than enforced ones)
                m.add(n <= most * y)
            m.add(cp_model.LinearExpr.sum([self.n[b, d] for d in it.allowed if (b, d) in self.n]) == size)

    def _used_and_first(self) -> None:
        """used[g]: GPU g holds something; first[g]: g is the execution device (the lowest used)."""
        m, gpus = self.model, self.gpus
        self.used = {g: m.new_bool_var(f"used[{g}]") for g in gpus}
        for g in gpus:
            on_g = [self.y[b, g] for b in range(len(self.blocks)) if (b, g) in self.y]
            for v in on_g:
                m.add_implication(v, self.used[g])
            if on_g:
                m.add_bool_or(on_g).only_enforce_if(self.used[g])
            else:
                m.add(self.used[g] == 0)
        self.first = {g: m.new_bool_var(f"first[{g}]") for g in self.executors}
        if gpus:
            m.add_exactly_one(self.first.values())
            below = None  # "some GPU below this one is used", a chain: linear in the GPUs, not quadratic
            for k, g in enumerate(gpus):
                if g in self.first:
                    m.add_implication(self.first[g], self.used[g])
                    if below is not None:
                        m.add_implication(self.first[g], ~below)
                if k + 1 < len(gpus):
                    nxt = m.new_bool_var(f"below[{k + 1}]")
                    m.add_implication(self.used[g], nxt)
                    if below is not None:
                        m.add_implication(below, nxt)
                    below = nxt

    def _offloaded(self) -> None:
        """off[b]: block b has items on the CPU or disk (with no GPU, on the disk)."""
        p, m = self.scaled, self.model
        self.away = [d for d in (p.cpu, p.disk) if d is not None] if self.gpus else ([p.disk] if p.disk is not None else [])
        self.off = {}
        for b in range(len(self.blocks)):
            terms = [self.y[b, d] for d in self.away if (b, d) in self.y]
            if terms:
                off = self.off[b] = m.new_bool_var(f"off[{b}]")
                m.add_max_equality(off, terms)

    def _gpu_capacity(self, g: int):
        """GPU g's load (weights + KV of its items, the largest activation it runs, its reserve,
        and as the execution device the onload buffer and the offloaded layers' KV), bounded by
        its capacity; returns the load expression."""
        m, items, blocks, devices = self.model, self.scaled.items, self.blocks, self.scaled.devices
        max_a = max((it.activation_bytes for it in items), default=0)
        act = m.new_int_var(0, max_a, f"act[{g}]")
        held, sizes = [act, self.used[g]], [1, devices[g].reserve_bytes]
        for b, (i, _) in enumerate(blocks):
            if (b, g) in self.n:
                it = items[i]
                held.append(self.n[b, g])
                sizes.append(it.weights_bytes + it.kv_bytes)
                if it.activation_bytes:
                    m.add(act >= it.activation_bytes * self.y[b, g])
        load = cp_model.LinearExpr.weighted_sum(held, sizes)  # one expression, not a chain of sums
        if self.off and g in self.first:
            load = load + self._execution_extras(g, act)
        m.add(load <= devices[g].capacity_bytes + self.over.get(g, 0))
        return load

    def _offload_extras(self) -> None:
        """Once for the model: the largest weights and activation peak among the offloaded blocks
        and their KV cache, which the execution device holds (``_execution_extras``)."""
        m, items, blocks = self.model, self.scaled.items, self.blocks
        self.off_bounds = (max((it.hosted for it in items), default=0),
                           sum(_stays(items[blocks[b][0]]) * blocks[b][1] for b in self.off))
        self.off_buf = m.new_int_var(0, self.off_bounds[0], "off_buf")
        self.off_act = m.new_int_var(0, max((it.activation_bytes for it in items), default=0), "off_act")
        for b, off in self.off.items():
            it = items[blocks[b][0]]
            m.add(self.off_buf >= it.hosted).only_enforce_if(off)
            if it.activation_bytes:
                m.add(self.off_act >= it.activation_bytes).only_enforce_if(off)
        self.off_kv = None
        if self.off_bounds[1]:
            self.off_kv = m.new_int_var(0, self.off_bounds[1], "off_kv")
            m.add(self.off_kv >= sum(_stays(items[blocks[b][0]]) * self.n[b, d]
                                     for b in self.off for d in self.away if (b, d) in self.n))

    def _execution_extras(self, g: int, act):
        """What GPU g holds when it executes offloaded blocks: room to onload the largest of them,
        their activation peaks, and their KV cache."""
        m, first = self.model, self.first[g]
        buf = m.new_int_var(0, self.off_bounds[0], f"buf[{g}]")
        m.add(buf >= self.off_buf).only_enforce_if(first)
        m.add(act >= self.off_act).only_enforce_if(first)
        if self.off_kv is None:
            return buf
        kvx = m.new_int_var(0, self.off_bounds[1], f"kvx[{g}]")
        m.add(kvx >= self.off_kv).only_enforce_if(first)
        return buf + kvx

    def _host_capacity(self) -> None:
        """The CPU holds its items' weights and stages one disk item at a time (and, with no GPU,
        executes everything); the disk holds its items' weights."""
        m, items, blocks, devices = self.model, self.scaled.items, self.blocks, self.scaled.devices
        cpu, disk = self.scaled.cpu, self.scaled.disk
        max_w = max((it.hosted for it in items), default=0)
        if cpu is not None:
            stage = 0
            if disk is not None and any((b, disk) in self.y for b in range(len(blocks))):
                stage = m.new_int_var(0, max_w, "stage")
                for b, (i, _) in enumerate(blocks):
                    if (b, disk) in self.y:
                        m.add(stage >= items[i].hosted).only_enforce_if(self.y[b, disk])
            load = sum(items[i].hosted * self.n[b, cpu] for b, (i, _) in enumerate(blocks) if (b, cpu) in self.n)
            load = load + stage
            if not self.gpus:  # the CPU executes everything, and holds every item's KV and buffers
                load = load + sum(_stays(it) for it in items) + max((it.activation_bytes for it in items), default=0) \
                    + devices[cpu].reserve_bytes
            m.add(load <= devices[cpu].capacity_bytes + self.over.get(cpu, 0))
        if disk is not None:
            load = sum(items[i].hosted * self.n[b, disk] for b, (i, _) in enumerate(blocks) if (b, disk) in self.n)
            m.add(load <= devices[disk].capacity_bytes + self.over.get(disk, 0))

    def _contiguity(self) -> None:
        """One run per GPU along the sequence of blocks; a block a GPU cannot hold (no variable)
        counts as not held. As clauses and at-most-one constraints (CP-SAT propagates them
        natively): a run starts at a held block whose predecessor is not held (the first block's
        literal is its own start), and a GPU crosses a boundary when it holds both sides."""
        m, items, y = self.model, self.problem.items, self.y
        seq = [b for b, (i, _) in enumerate(self.blocks) if items[i].in_sequence]
        self.sequence = seq
        for g in self.gpus:
            starts = []
            for j, b in enumerate(seq):
                if (b, g) not in y:
                    continue
                prev = (seq[j - 1], g) if j else None
                if prev is None or prev not in y:
                    starts.append(y[b, g])
                    continue
                s = m.new_bool_var(f"start[{j},{g}]")
                m.add_bool_or([~y[b, g], y[prev], s])
                starts.append(s)
            if len(starts) > 1:
                m.add_at_most_one(starts)
            for j in range(1, len(seq) - 1):
                size = self.blocks[seq[j]][1]
                around = [(seq[j - 1], g), (seq[j + 1], g)]
                if size > 1 and (seq[j], g) in self.n and all(k in y for k in around):
                    m.add(self.n[seq[j], g] == size).only_enforce_if([y[k] for k in around])
        for j in range(len(seq) - 1):
            crossing = []
            for g in self.gpus:
                if (seq[j], g) in y and (seq[j + 1], g) in y:
                    c = m.new_bool_var(f"cross[{j},{g}]")
                    m.add_bool_or([~y[seq[j], g], ~y[seq[j + 1], g], c])
                    crossing.append(c)
            if len(crossing) > 1:
                m.add_at_most_one(crossing)

    # objectives -------------------------------------------------------------------------------
    def offload_ns(self):
        p = self.scaled
        return sum(p.offload_ns[self.blocks[b][0]][d] * v for (b, d), v in self.n.items()
                   if d in self.away and p.offload_ns[self.blocks[b][0]][d])

    def offload_value(self, assignment: tuple[int, ...]) -> int:
        """``offload_ns()`` at ``assignment``, in the model's scaled units."""
        p = self.scaled
        return sum(p.offload_ns[i][d] for i, d in enumerate(assignment) if d in self.away)

    def gpu_count(self):
        return sum(self.used.values())

    def price(self):
        """Total price of the GPUs in use, in ``Problem.gpu_prices`` units."""
        prices = self.problem.gpu_prices()
        return sum(prices[g] * self.used[g] for g in self.gpus)

    def max_utilization(self):
        """A variable bounded below by every GPU's load / capacity, in 1/UTIL_SCALE. The load is
        first rounded up to a coarse unit (capacity / 2^17 or finer, below 0.001%) so that no
        coefficient of the ratio constraint is large."""
        m = self.model
        u = m.new_int_var(0, UTIL_SCALE, "max_util")
        for g in self.gpus:
            cap = self.scaled.devices[g].capacity_bytes
            coarse = 1
            while cap > 2**17 * coarse:
                coarse *= 2
            rounded = m.new_int_var(0, cap // coarse + 1, f"load_coarse[{g}]")
            m.add(rounded * coarse >= self.load[g])
            m.add(rounded * UTIL_SCALE <= u * (cap // coarse))
        return u

    def price_bound(self) -> int:
        return sum(self.problem.gpu_prices().values())

    def runs_bound(self) -> int:
        return len(self.gpus) + len(self.away) * len(self.blocks)

    def runs(self):
        """GPUs in use plus, per offload tier, the blocks with offloaded items: fewer hops."""
        return sum(self.used.values()) + sum(self.y[b, d] for b in range(len(self.blocks)) for d in self.away if (b, d) in self.y)

    def shortfall(self):
        """In the model's unit (``self.unit`` bytes)."""
        return sum(self.over.values())

    # solutions --------------------------------------------------------------------------------
    def hint(self, assignment: tuple[int, ...]) -> None:
        """Counts and their literals of ``assignment`` as CP-SAT's hint, written into the model's
        proto in one call (``add_hint`` per variable costs ten times as much in Python)."""
        self.model.clear_hints()
        counts: dict[tuple[int, int], int] = {}
        for b, (first, size) in enumerate(self.blocks):
            for i in range(first, first + size):
                counts[b, assignment[i]] = counts.get((b, assignment[i]), 0) + 1
        hinted: dict[int, int] = {}
        for key, v in self.n.items():
            count = counts.get(key, 0)
            hinted[v.index] = count
            hinted[self.y[key].index] = int(count > 0)
        proto = self.model.proto.solution_hint
        proto.vars.extend(list(hinted))
        proto.values.extend(list(hinted.values()))

    def assignment(self, solver: cp_model.CpSolver) -> tuple[int, ...]:
        """Items laid out within each block: the GPU continuing from the block before, other
        GPUs, CPU, disk, then the GPU continuing into the next block."""
        counts = {key: solver.value(v) for key, v in self.n.items()}
        out = [0] * len(self.problem.items)
        seq_pos = {b: j for j, b in enumerate(self.sequence)}
        n_dev = len(self.problem.devices)
        for b, (first, _size) in enumerate(self.blocks):
            here = [d for d in range(n_dev) if counts.get((b, d), 0)]
            j = seq_pos.get(b)
            prev = self.sequence[j - 1] if j else None
            nxt = self.sequence[j + 1] if j is not None and j + 1 < len(self.sequence) else None
            entering = [d for d in here if d in self.gpus and prev is not None and counts.get((prev, d), 0)]
            leaving = [d for d in here if d in self.gpus and nxt is not None and counts.get((nxt, d), 0) and d not in entering]
            middle = [d for d in here if d not in entering and d not in leaving]
            pos = first
            for d in entering + middle + leaving:
                for _ in range(counts[b, d]):
                    out[pos] = d
                    pos += 1
        return tuple(out)


def _stays(it: Item) -> int:
    """What an offloaded item keeps on the execution device: its KV cache and its buffers."""
    return it.kv_bytes + it.buffer_bytes


def _total(p: Problem) -> int:
    return sum(max(it.weights_bytes, it.hosted) + it.kv_bytes + it.activation_bytes for it in p.items) + sum(
        d.capacity_bytes for d in p.devices)

"""Why nothing fits, by how much, and what would make it fit: each suggestion is checked by
re-planning with the change, so every number it prints is one that works.

The whole diagnosis spends at most the caller's time limit, as solver work (the segment
search's expansions, CP-SAT's deterministic seconds) shared out between its checks, so it
obeys ``--time-limit`` and gives the same suggestions on any machine load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from planner.costs.profile import Profile, reprofile
from planner.errors import PlannerError
from planner.hardware.inventory import Device, Inventory
from planner.placement.problem import Problem, build_problem
from planner.placement.screen import proven_infeasible
from planner.placement.solver import least_shortfall, screened, searched_feasible
from planner.units import GiB, size_text

MAX_EXTRA_GPUS = 256


@dataclass(frozen=True)
class Diagnosis:
    shortfall_bytes: int | None
    """Least total capacity missing, units kept whole (0 when the cause is not capacity; None
    when it could not be proven within the time limit)."""
    short_devices: dict[int | str, int]
    """Where that capacity is missing, in a placement that misses the least."""
    need_bytes: dict[str, int]
    """weights, kv_cache, activation_peak (one copy), reserve (every GPU)."""
    capacity_bytes: int
    largest_unit: tuple[str, int]
    """The unit with the largest own need (weights + KV + activation peak)."""
    suggestions: tuple[str, ...]
    reason: str | None = None
    """What rules every plan out, when a necessary condition says (screen.py): the execution GPU's
    bound, a unit too large to run, the byte totals."""

    def summary(self) -> str:
        total = sum(self.need_bytes.values())
        short = ", ".join(f"{'GPU ' if isinstance(k, int) else ''}{k} {size_text(v)}" for k, v in self.short_devices.items())
        head = (f"needs {size_text(total)} (" + " + ".join(f"{k} {v / GiB:.2f}" for k, v in self.need_bytes.items())
                + f") on {size_text(self.capacity_bytes)} of devices")
        if self.shortfall_bytes:
            head += f"; {size_text(self.shortfall_bytes)} short ({short}) with units kept whole"
        elif self.shortfall_bytes is None:
            at_least = total - self.capacity_bytes
            head += (f"; at least {size_text(at_least)} short" if at_least > 0 else "") + (
                " (the least shortfall with units kept whole was not proven within the time limit)")
        return f"{self.reason}; {head}" if self.reason else head


class Budget:
    """Solver seconds left for the diagnosis; each check takes a slice of at most ``SLICE``."""

    SLICE = 0.3

    def __init__(self, seconds: float):
        self.left = seconds

    def take(self, want: float = SLICE) -> float | None:
        if self.left < 0.01:
            return None
        got = min(want, self.left)
        self.left -= got
        return got


def _fits(spec_profile: Profile, inventory: Inventory, objective, pins, weights_only, budget: Budget) -> bool:
    """Whether a plan exists: by screen.py when it can tell (no search, so no budget spent), else
    by a search within a slice of the budget; False also when the budget left cannot tell."""
    from planner.placement.segments import fits_on_gpus

    problem = build_problem(spec_profile, inventory, objective, pins, weights_only)
    known = screened(problem)
    if known is not None:
        return known
    seconds = budget.take()
    if seconds is None:
        return False
    on_gpus, used = fits_on_gpus(problem, seconds)
    if on_gpus or (on_gpus is False and inventory.cpu is None and inventory.disk is None):
        budget.left += max(0.0, seconds - used)  # answered exactly: the rest of the slice is not spent
        return bool(on_gpus)
    left = max(seconds - used, 0.01)
    found, spent = searched_feasible(problem, left)  # the screen could not tell (above)
    budget.left += max(0.0, left - spent)  # only the work done is spent
    return bool(found)


def _largest_unit(problem: Problem) -> tuple[str, int]:
    it = max(problem.items, key=lambda i: (i.weights_bytes + i.kv_bytes + i.activation_bytes, -i.units[0]))
    return it.names[0], it.weights_bytes + it.kv_bytes + it.activation_bytes


def _catalog_device(name: str, weights_only: bool) -> Device:
    from planner.catalog import find_gpu
    from planner.hardware.inventory import catalog_device

    return catalog_device(find_gpu(name), reserve=0 if weights_only else None)


def _more_gpus(prof, problem: Problem, inventory: Inventory, args) -> str | None:
    """Fewest extra GPUs that make it fit: of the largest type present, else of the smallest
    catalog type that can run the largest unit."""
    from planner.catalog import gpu_types

    weights_only = args[2]
    templates = []
    if inventory.gpus:
        templates.append(max(inventory.gpus, key=lambda g: (g.usable_bytes, -int(g.key))))
    need = _largest_unit(problem)[1]
    bigger = sorted((_catalog_device(g.name, weights_only) for g in gpu_types()), key=lambda d: (d.capacity_bytes, d.label))
    templates += [d for d in bigger if d.usable_bytes > need and (not templates or d.usable_bytes > templates[0].usable_bytes)][:1]
    next_key = max((int(g.key) for g in inventory.gpus), default=-1) + 1
    for template in templates:
        def fits(k: int, template=template) -> bool:
            extra = tuple(replace(template, key=next_key + j) for j in range(k))
            return _fits(prof, replace(inventory, gpus=inventory.gpus + extra), *args)

        least = min(_least_extra(problem, template), MAX_EXTRA_GPUS)
        if fits(least):  # more GPUs never hurt, and fewer than ``least`` are ruled out
            return f"{least} more {template.label} ({size_text(template.capacity_bytes)} each)"
        if least == MAX_EXTRA_GPUS or not fits(MAX_EXTRA_GPUS):
            continue
        lo, step = least + 1, 1  # the fewest that fit, by galloping up from the bound, then bisection
        while not fits(min(lo + step, MAX_EXTRA_GPUS)):
            lo, step = lo + step + 1, step * 2
        hi = min(lo + step, MAX_EXTRA_GPUS)
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
        return f"{lo} more {template.label} ({size_text(template.capacity_bytes)} each)"
    return None


def _least_extra(problem: Problem, template: Device) -> int:
    """A lower bound on the extra GPUs of ``template``'s kind a plan needs (at least 1): screen.py's
    byte totals (all KV, the largest activation and a reserve on the GPUs; weights and KV on all
    devices), with the extra GPUs' capacity added."""
    from planner.placement.screen import byte_needs

    devs = problem.devices
    reserve = min([template.reserve_bytes] + [devs[g].reserve_bytes for g in problem.gpu_indices])
    on_gpus, anywhere = byte_needs(problem, reserve)
    missing = max(on_gpus - sum(devs[g].capacity_bytes for g in problem.gpu_indices),
                  anywhere - sum(d.capacity_bytes for d in devs))
    return max(1, -(-missing // max(template.capacity_bytes, 1)))


def _largest_that_fits(prof: Profile, inventory: Inventory, args, field: str, high: int) -> int | None:
    """Largest value of a workload field in [1, high) that fits (fits is monotone in it). The
    search starts below the largest value the execution GPU's bound (screen.execution_needs)
    leaves open, found by false position on its margin, which is exact for one GPU: so the
    answer is often that value, checked once."""
    def at(v: int) -> Profile:
        return reprofile(prof, **{field: v})

    def fits(v: int) -> bool:
        return _fits(at(v), inventory, *args)

    if high <= 1 or not fits(1):
        return None
    lo, hi = 1, _bound_top(lambda v: _margin(at(v), inventory, args), 1, high - 1)
    if hi > lo and fits(hi):
        return hi
    hi = max(lo, hi - 1)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo


def _margin(prof: Profile, inventory: Inventory, args) -> int | None:
    """Most room a GPU that could execute has beyond the least it must hold then (negative:
    nothing fits); None when the bound does not apply (pins)."""
    from planner.placement.screen import execution_needs

    objective, pins, weights_only, _ = args
    problem = build_problem(prof, inventory, objective, pins, weights_only)
    return max((problem.devices[g].usable_bytes - need for g, need in execution_needs(problem)), default=None)


def _bound_top(margin, lo: int, hi: int) -> int:
    """Largest v in [lo, hi] whose margin is not negative (the margin falls as v grows; ``lo``'s
    is taken as not negative): false position with the Illinois step, on whole numbers, turning
    to bisection after twice as many steps as bisection would take, so it never takes more;
    ``hi`` when the margin is None."""
    m_hi = margin(hi)
    if m_hi is None or m_hi >= 0:
        return hi
    m_lo = margin(lo)
    if m_lo is None or m_lo < 0:
        return hi
    side, steps = 0, 2 * (hi - lo).bit_length()
    while hi - lo > 1:
        steps -= 1
        x = lo + m_lo * (hi - lo) // (m_lo - m_hi) if steps >= 0 else (lo + hi) // 2
        x = min(max(x, lo + 1), hi - 1)
        m = margin(x)
        if m >= 0:
            lo, m_lo = x, m
            m_hi, side = (m_hi // 2 if side == 1 else m_hi), 1
        else:
            hi, m_hi = x, m
            m_lo, side = (m_lo // 2 if side == -1 else m_lo), -1
    return lo


def _least_gib(fits, guess: int, most: int) -> int | None:
    """The fewest whole GiB for which ``fits`` holds (it is monotone), searched from ``guess``
    (units move whole, so the bytes missing are a lower bound, not the answer): doubling up to
    ``most`` when the guess is short, then bisection."""
    lo, hi = 1, guess
    if not fits(guess):
        lo, hi = guess + 1, min(guess * 2, most)
        while not fits(hi):
            if hi >= most:
                return None
            lo, hi = hi + 1, min(hi * 2, most)
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid + 1, hi)
    return hi


def diagnose(problem: Problem, prof: Profile, inventory: Inventory, objective: str,
             pins: Mapping | None, weights_only: bool, time_limit_s: float = 2.0) -> Diagnosis:
    budget = Budget(time_limit_s)
    args = (objective, pins, weights_only, budget)
    shortfall, over = least_shortfall(problem, budget.take(time_limit_s / 3) or 0.01)
    need = {
        "weights": sum(i.weights_bytes for i in problem.items),
        "kv_cache": sum(i.kv_bytes for i in problem.items),
        "activation_peak": max((i.activation_bytes for i in problem.items), default=0),
        "reserve": sum(problem.devices[g].reserve_bytes for g in problem.gpu_indices),
    }
    tips: list[str] = []
    more = _more_gpus(prof, problem, inventory, args)
    if more:
        tips.append(f"add {more}")
    if prof.quant is None and not prof.spec.quantization_config:  # a quantized checkpoint takes no other method
        for scheme in ("int8", "nf4"):
            try:
                q = reprofile(prof, quant=scheme)
            except PlannerError:  # the engine refuses this scheme for this model
                continue
            if _fits(q, inventory, *args):
                tips.append(f"quantize the weights with --quant {scheme} ({size_text(q.weights_bytes)} instead of "
                            f"{size_text(prof.weights_bytes)})")
                break
    if need["kv_cache"] and not weights_only:
        w = prof.workload
        tokens = _largest_that_fits(prof, inventory, args, "prompt_tokens", w.prompt_tokens)
        if tokens:
            tips.append(f"shorten prompts to at most {tokens} tokens (asked {w.prompt_tokens})")
        if w.batch > 1:
            batch = _largest_that_fits(prof, inventory, args, "batch", w.batch)
            if batch:
                tips.append(f"run at most {batch} sequence{'' if batch == 1 else 's'} at once (asked {w.batch})")
    if inventory.cpu is None:
        guess = -(-((shortfall or need["weights"]) + max(i.weights_bytes for i in problem.items)) // GiB)
        cpu_gib = _least_gib(lambda n: _fits(prof, replace(inventory, cpu=Device("cpu", "cpu", "cpu", n * GiB)), *args),
                         guess, -(-need["weights"] // GiB) + guess)
        if cpu_gib is not None:
            tips.append(f"offload to CPU RAM with --cpu {cpu_gib}GiB (slower: weights cross the host link each pass)")
    elif inventory.disk is None:
        size = -(-need["weights"] // GiB) * GiB
        disk = Device("disk", "disk", "disk", size, 0, 2.0)
        if _fits(prof, replace(inventory, disk=disk), *args):
            tips.append(f"offload to disk with --disk {size // GiB}GiB (much slower)")
    if not tips and budget.left < 0.01:
        tips.append(f"give the search more time with --time-limit {max(2.0, 4 * time_limit_s):g} "
                    "(no fix was found within this one)")
    keys = {d: problem.devices[d].key for d in over}
    return Diagnosis(shortfall, {keys[d]: v for d, v in sorted(over.items())}, need,
                     sum(d.capacity_bytes for d in problem.devices), _largest_unit(problem), tuple(tips),
                     proven_infeasible(problem))

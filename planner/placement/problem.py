"""The placement problem as plain integers: items, devices, costs. No solver here.

An *item* is what gets placed: one unit of the model, or a group of units that share a tensor
(tied embeddings and head), merged so that "tied units share a device" holds by construction.
Items keep the model's execution order; the contiguity rule runs over the *sequence* items
(pinned items float, so pinning the head to GPU 0 does not drag every layer there).

Offload costs are nanoseconds per forward pass: every offloaded byte crosses the host link
of the executing GPU once (bytes / GB/s = ns); a byte on disk is first read from the drive.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from planner.costs.profile import Profile
from planner.errors import InputError
from planner.hardware.inventory import Device, Inventory
from planner.hardware.prices import hourly_units
from planner.objectives import PLAN_OBJECTIVES as OBJECTIVES

"""What ``plan`` minimises after offload, named as ``size`` names them: fewest GPUs, purchase
price, hourly price, or even load; ``cost`` (the older name) is the hourly price when every GPU
has one, else the purchase price. Inside the solver all three prices are the ``cost`` stage."""
PRICE_BASIS = {"price": "purchase", "hourly": "hourly", "cost": "auto"}
UTIL_SCALE = 10_000
"""Utilization is measured and minimised in units of 0.01%."""


@dataclass(frozen=True, slots=True)
class Item:
    units: tuple[int, ...]
    """Indices into the profile's units (several when tied)."""
    names: tuple[str, ...]
    weights_bytes: int
    kv_bytes: int
    activation_bytes: int
    allowed: tuple[int, ...]
    """Indices of the devices this item may go to (pins and the engine's refusals narrow it)."""
    in_sequence: bool = True
    """Takes part in the one-contiguous-run-per-GPU rule (False when pinned)."""
    host_weights_bytes: int = -1
    """Its weights when held on the CPU or disk (what sits there, crosses the link and fills the
    onload room); -1: the same as on a GPU. More where the engine leaves offloaded modules
    unquantized (bitsandbytes)."""

    buffer_bytes: int = 0
    """Its buffers, part of ``weights_bytes`` on a GPU; offloaded, they stay on the execution
    device (accelerate's offload_buffers=False) and are not part of ``hosted``."""

    @property
    def hosted(self) -> int:
        return self.weights_bytes if self.host_weights_bytes < 0 else self.host_weights_bytes


@dataclass(frozen=True)
class Problem:
    items: tuple[Item, ...]
    devices: tuple[Device, ...]
    """GPUs (in CUDA order), then CPU, then disk."""
    objective: str
    """gpus, cost (a price: see ``price_basis``) or balance."""
    offload_ns: tuple[tuple[int, ...], ...]
    """offload_ns[i][d]: transfer time per forward pass if item i lives on device d (0 on a GPU)."""
    weights_only: bool = False
    price_basis: str = "auto"
    """For the cost objective: purchase, hourly, or auto (hourly when every GPU has an hourly price)."""

    @cached_property
    def gpu_indices(self) -> tuple[int, ...]:
        return tuple(d for d, dev in enumerate(self.devices) if dev.kind == "gpu")

    @cached_property
    def cpu(self) -> int | None:
        return next((d for d, dev in enumerate(self.devices) if dev.kind == "cpu"), None)

    @cached_property
    def disk(self) -> int | None:
        return next((d for d, dev in enumerate(self.devices) if dev.kind == "disk"), None)

    @cached_property
    def blocks(self) -> tuple[tuple[int, int], ...]:
        """(first item, count) of runs of consecutive interchangeable items: same bytes, same
        devices allowed, all in the sequence. The solver places counts per block, not items, so
        126 identical layers are one integer per device instead of 126 booleans. Computed once:
        every plan scored on the problem counts its runs by block."""
        out: list[tuple[int, int]] = []
        for i, it in enumerate(self.items):
            if out and it.in_sequence and _twin(self.items[out[-1][0]], it):
                out[-1] = (out[-1][0], out[-1][1] + 1)
            else:
                out.append((i, 1))
        return tuple(out)

    def gpu_prices(self) -> dict[int, int]:
        """Integer price of each GPU for the ``cost`` objective: the hourly price in 1/10000 USD
        when every GPU has one, else the purchase price in whole USD (0 when unknown)."""
        gpus = [self.devices[g] for g in self.gpu_indices]
        hourly = self.price_basis == "hourly" or (
            self.price_basis == "auto" and all(dev.price_usd_per_hour is not None for dev in gpus))
        return {g: hourly_units(dev.price_usd_per_hour) if hourly else round(dev.price_usd or 0)
                for g, dev in zip(self.gpu_indices, gpus, strict=True)}

    def symmetric_pairs(self) -> list[tuple[int, int]]:
        """Consecutive GPUs that are interchangeable (same capacity, reserve, link and price, and no
        item allowed on one of them but not the other: a pin breaks the symmetry)."""
        gpus = self.gpu_indices
        return [(a, b) for a, b in zip(gpus, gpus[1:], strict=False) if _same(self.devices[a], self.devices[b])
                and all((a in it.allowed) == (b in it.allowed) for it in self.items)]


def _twin(a: Item, b: Item) -> bool:
    return a.in_sequence and (a.weights_bytes, a.kv_bytes, a.activation_bytes, a.allowed, a.hosted, a.buffer_bytes) == (
        b.weights_bytes, b.kv_bytes, b.activation_bytes, b.allowed, b.hosted, b.buffer_bytes)


def _same(a: Device, b: Device) -> bool:
    return (a.capacity_bytes, a.reserve_bytes, a.link_gb_per_s, a.price_usd, a.price_usd_per_hour) == (
        b.capacity_bytes, b.reserve_bytes, b.link_gb_per_s, b.price_usd, b.price_usd_per_hour)


def _ns(nbytes: int, gb_per_s: float) -> int:
    return -int(-nbytes // gb_per_s) if nbytes else 0


def _pin_device(key: str | int, devices: tuple[Device, ...], prefix: str) -> int:
    wanted = str(key).strip().lower()
    for d, dev in enumerate(devices):
        if str(dev.key) == wanted:
            return d
    keys = ", ".join(str(dev.key) for dev in devices)
    raise InputError(f"pin: {prefix}={key} names no device of the inventory; choose one of {keys}")


def _pins(profile: Profile, pins: Mapping[str, str | int], devices: tuple[Device, ...]) -> dict[int, int]:
    names = [u.name for u in profile.units]
    out: dict[int, int] = {}
    for prefix, key in pins.items():
        prefix = prefix.strip()
        d = _pin_device(key, devices, prefix)
        hits = [i for i, n in enumerate(names) if prefix in ("", n) or n.startswith(prefix + ".")]
        if not hits:
            prefixes = sorted({".".join(n.split(".")[:k]) for n in names for k in range(1, n.count(".") + 2)})
            close = difflib.get_close_matches(prefix, prefixes, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"pin: {prefix!r} matches no module of {profile.spec.name}{hint}")
        for i in hits:
            if out.get(i, d) != d:
                raise InputError(f"pin: {names[i]} is pinned to two devices; keep one pin for it")
            out[i] = d
    return out


def _gpus_only(allowed: tuple[int, ...], gpus: tuple[int, ...], name: str, profile: Profile,
               devices: tuple[Device, ...]) -> tuple[int, ...]:
    """The devices an item the engine keeps on GPUs may use; a pin off the GPUs is refused."""
    kept = tuple(d for d in allowed if d in gpus)
    if not kept:
        load = profile.load
        why = load.offload_refusal or load.gpu_only_reason if load else "the engine keeps it on a GPU"
        raise InputError(f"pin: {name} is pinned to {devices[allowed[0]].key}, but {why}")
    return kept


def build_problem(
    profile: Profile,
    inventory: Inventory,
    objective: str = "gpus",
    pins: Mapping[str, str | int] | None = None,
    weights_only: bool = False,
) -> Problem:
    """Turn costs and devices into the integer problem. ``weights_only`` plans as accelerate does:
    weights against capacity, no KV cache, no activations, no reserve."""
    if objective not in OBJECTIVES:
        raise InputError(f"objective: unknown {objective!r}; choose one of {', '.join(OBJECTIVES)}")
    if weights_only:
        inventory = inventory.weights_only()
    devices = inventory.devices
    basis = PRICE_BASIS.get(objective)
    if basis is not None:
        for dev in inventory.gpus:
            price = {"purchase": dev.price_usd, "hourly": dev.price_usd_per_hour}.get(basis, dev.price_usd_per_hour or dev.price_usd)
            if price is None:
                raise InputError(f"objective: {objective} needs a {'purchase' if basis == 'purchase' else basis} price for GPU "
                                 f"{dev.key} ({dev.label}); name a catalog GPU type or give --price")
        objective = "cost"
    pinned = _pins(profile, pins or {}, devices)
    names = [u.name for u in profile.units]
    index = {n: i for i, n in enumerate(names)}
    group_of = list(range(len(names)))
    for group in profile.spec.tied_groups:
        members = sorted(index[n] for n in group if n in index)
        for i in members:
            group_of[i] = members[0]
    link = min((dev.link_gb_per_s for dev in inventory.gpus), default=0.0)
    groups: dict[int, list[int]] = {}
    for i, first in enumerate(group_of):
        groups.setdefault(first, []).append(i)
    everywhere = tuple(range(len(devices)))
    gpu_zeros = len(inventory.gpus)  # GPUs come first in Inventory.devices, and cost nothing to reach
    on_gpus = everywhere[:gpu_zeros]
    items: list[Item] = []
    for first in sorted(groups):
        members = tuple(groups[first])
        pin_set = {pinned[i] for i in members if i in pinned}
        if len(pin_set) > 1:
            raise InputError(f"pin: {', '.join(names[i] for i in members)} share a tensor but are pinned to different devices")
        costs = [profile.units[i] for i in members]
        w, hosted = sum(c.weights_bytes for c in costs), sum(c.hosted_bytes for c in costs)
        allowed = tuple(pin_set) if pin_set else everywhere
        if not all(c.offloadable for c in costs) and gpu_zeros:
            allowed = _gpus_only(allowed, on_gpus, names[first], profile, devices)
        items.append(Item(
            members, tuple(names[i] for i in members), w,
            0 if weights_only else sum(c.kv_bytes for c in costs),
            0 if weights_only else max(c.activation_peak_bytes for c in costs),
            allowed, not pin_set, -1 if hosted == w else hosted, sum(c.buffer_bytes for c in costs),
        ))
    offload = []
    for it in items:
        row = [0] * gpu_zeros
        for dev in devices[gpu_zeros:]:
            if dev.kind == "cpu":
                row.append(_ns(it.hosted, link) if link else 0)
            else:
                row.append(_ns(it.hosted, dev.link_gb_per_s) + (_ns(it.hosted, link) if link else 0))
        offload.append(tuple(row))
    return Problem(tuple(items), devices, objective, tuple(offload), weights_only, basis or "auto")

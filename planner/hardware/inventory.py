"""What the model may be placed on: GPUs, CPU RAM and disk of one machine, with capacities,
reserves and link bandwidths.

Sizes follow accelerate's reading of ``max_memory``: ``GiB`` is 2^30 bytes, ``GB`` 10^9. A GPU
named by catalog type is a whole card: its capacity is the memory the driver reports and its
reserve is the CUDA context plus allocator fragmentation. A GPU given as a size (``--gpu 24GiB``)
is a card of that size with a default context. A ``max_memory`` entry is a budget for tensors, as
accelerate treats it: only fragmentation is held back from it. Disk exists only when it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from planner.catalog import find_gpu
from planner.costs.overhead import DEFAULT_FRAGMENTATION, reserve_bytes
from planner.errors import CatalogError, InputError
from planner.hardware.topology import HostLayout, LayoutSpec, gpu_link_kind
from planner.units import MiB, parse_size, size_text

DEFAULT_CONTEXT_BYTES = 500 * MiB
"""CUDA context of a GPU known only by its size (catalog cards carry their own figure)."""
DEFAULT_HOST_LINK_GB_PER_S = 25.0
"""PCIe 4.0 x16, the host-to-device link of a GPU known only by its size."""
DEFAULT_DISK_GB_PER_S = 2.0
"""Sustained read of an NVMe drive through safetensors' memory map, for disk offload."""
MAX_GPUS = 256


@dataclass(frozen=True, slots=True)
class Device:
    """One place a unit can live. ``key`` is what accelerate's device_map calls it."""

    key: int | str
    """GPU index (as CUDA numbers it), ``"cpu"`` or ``"disk"``."""
    kind: str
    """gpu | cpu | disk"""
    label: str
    """Catalog type or a description, for tables."""
    capacity_bytes: int
    reserve_bytes: int = 0
    """Held back on a GPU the plan uses (CUDA context, fragmentation); never holds tensors."""
    link_gb_per_s: float = 0.0
    """GB/s (10^9 bytes per second) at which offloaded weights cross this device's own link: a
    GPU's host-to-device link, the disk's read bandwidth; 0 for the CPU, which has none of its own."""
    gpu_type: str | None = None
    price_usd: float | None = None
    price_usd_per_hour: float | None = None

    @property
    def usable_bytes(self) -> int:
        return self.capacity_bytes - self.reserve_bytes


@dataclass(frozen=True)
class Inventory:
    """The devices of one machine: GPUs in CUDA order, then CPU RAM, then disk."""

    gpus: tuple[Device, ...] = ()
    cpu: Device | None = None
    disk: Device | None = None
    layout: HostLayout | None = None
    """The GPUs' islands and links (hardware/topology.py); None: not given, every GPU alike."""

    @property
    def devices(self) -> tuple[Device, ...]:
        return self.gpus + tuple(d for d in (self.cpu, self.disk) if d is not None)

    @property
    def gpu0_type(self):
        """The catalog type of GPU 0, the device transformers' quantizers check (None when it is known
        by size only, or there is no GPU)."""
        if not self.gpus or self.gpus[0].gpu_type is None:
            return None
        return find_gpu(self.gpus[0].gpu_type)

    def weights_only(self) -> Inventory:
        """The same devices with no reserve, as accelerate plans (weights against max_memory)."""
        return replace(self, gpus=tuple(replace(g, reserve_bytes=0) for g in self.gpus))


_COUNT = re.compile(r"^\s*(\d{1,9})\s*[x*]\s*(.+?)\s*$", re.IGNORECASE)


def split_count(text: str) -> tuple[int, str]:
    """``2xA100-80GB`` -> (2, "A100-80GB"); no count means one."""
    if re.match(r"^\s*\d{10,}\s*[x*]", text):
        raise InputError(f"gpu: the count of {text[:40]!r}... has more than 9 digits; give a count a machine can hold")
    match = _COUNT.match(text)
    return (int(match.group(1)), match.group(2)) if match else (1, text.strip())


def _gpu_devices(text: str, start: int, reserve: int | None, fragmentation: float, prices=None) -> list[Device]:
    count, what = split_count(text)
    if count < 1 or count > MAX_GPUS:
        raise InputError(f"gpu: count in {text!r} must be between 1 and {MAX_GPUS}")
    try:
        g = find_gpu(what)
    except CatalogError:
        if not re.search(r"[0-9.]\s*[kmgt]i?b\s*$", what, re.IGNORECASE):
            raise
        size = parse_size(what, "gpu")
        own = reserve if reserve is not None else reserve_bytes(size, DEFAULT_CONTEXT_BYTES, fragmentation)
        return [Device(start + i, "gpu", "GPU by size", size, own, DEFAULT_HOST_LINK_GB_PER_S)
                for i in range(count)]
    if prices:
        from planner.hardware.prices import priced

        g = priced(g, prices)
    return [catalog_device(g, start + i, reserve, fragmentation) for i in range(count)]


def catalog_device(gpu, key: int = 0, reserve: int | None = None, fragmentation: float = DEFAULT_FRAGMENTATION) -> Device:
    """One GPU of a catalog type, with its default reserve (its CUDA context + fragmentation) unless
    ``reserve`` is given: the one rule for a catalog GPU's usable bytes (``usable_bytes``)."""
    own = reserve if reserve is not None else reserve_bytes(gpu.memory_bytes, gpu.cuda_context_bytes, fragmentation)
    return Device(key, "gpu", gpu.name, gpu.memory_bytes, own, gpu.host_link_gb_per_s, gpu.name, gpu.price_usd,
                  gpu.price_usd_per_hour)


def usable_bytes(gpu) -> int:
    """Bytes of one GPU of a catalog type left for tensors after its default reserve."""
    return catalog_device(gpu).usable_bytes


MAX_GPU_INDEX = 4095
"""Highest GPU index ``max_memory`` may name (CUDA numbers one machine's GPUs from 0)."""


def parse_max_memory(value: str | Mapping) -> dict[int | str, int]:
    """``0=24GiB,1=12GiB,cpu=200GiB`` (or accelerate's dict) -> {0: bytes, 1: bytes, "cpu": bytes}."""
    if isinstance(value, str):
        entries = {}
        for part in filter(None, (p.strip() for p in value.split(","))):
            key, sep, size = part.partition("=")
            if not sep:
                raise InputError(f"max-memory: {part!r} is not KEY=SIZE; write e.g. 0=24GiB,1=12GiB,cpu=200GiB")
            if key.strip() in entries:
                raise InputError(f"max-memory: device {key.strip()} is given twice; give each device once")
            entries[key.strip()] = size.strip()
        value = entries
    out: dict[int | str, int] = {}
    for key, size in value.items():
        name = str(key).strip().lower()
        if isinstance(key, bool) or not (name.isdigit() or name in ("cpu", "disk")):
            raise InputError(f"max-memory: unknown device {str(key)[:40]!r}; use GPU indices (0, 1, ...), cpu or disk")
        device: int | str = name
        if name.isdigit():
            if len(name) > 5 or int(name) > MAX_GPU_INDEX:
                raise InputError(f"max-memory: GPU index {name[:24]} is above {MAX_GPU_INDEX:,}; "
                                 "indices count the GPUs of one machine from 0")
            device = int(name)
        if device in out:
            raise InputError(f"max-memory: device {device} is given twice; give each device once")
        out[device] = parse_size(size, f"max-memory[{key}]")
    if not out:
        raise InputError("max-memory: no devices given; write e.g. 0=24GiB,cpu=64GiB")
    return out


def build_inventory(
    gpus: Sequence[str] = (),
    cpu: str | int | None = None,
    disk: str | int | None = None,
    max_memory: str | Mapping | None = None,
    reserve: str | int | None = None,
    disk_gb_per_s: float = DEFAULT_DISK_GB_PER_S,
    fragmentation: float = DEFAULT_FRAGMENTATION,
    prices=None,
    layout: LayoutSpec | None = None,
) -> Inventory:
    """An Inventory from CLI-style pieces: ``--gpu 2xA100-80GB --gpu 24GiB --cpu 256GiB --max-memory 0=40GiB``.

    ``max_memory`` alone defines the GPUs (their indices and budgets); with ``gpus`` it caps them.
    """
    own_reserve = None if reserve is None else (0 if reserve in (0, "0") else parse_size(reserve, "reserve"))
    if not 0.001 <= disk_gb_per_s <= 10_000:  # also nan and inf
        raise InputError(f"disk-gb-per-s: must be between 0.001 and 10,000 GB/s, got {disk_gb_per_s}")
    devices: list[Device] = []
    for text in gpus:
        devices += _gpu_devices(text, len(devices), own_reserve, fragmentation, prices)
    if len(devices) > MAX_GPUS:
        raise InputError(f"gpu: {len(devices)} GPUs is more than one machine holds (at most {MAX_GPUS})")
    caps = parse_max_memory(max_memory) if max_memory is not None else {}
    gpu_caps = {k: v for k, v in caps.items() if isinstance(k, int)}
    if devices:
        for key, budget in sorted(gpu_caps.items()):
            if key >= len(devices):
                raise InputError(f"max-memory: GPU {key} is not among the {len(devices)} given with --gpu (0-{len(devices) - 1})")
            card = devices[key]
            if budget > card.capacity_bytes:
                raise InputError(f"max-memory: {key}={size_text(budget)} exceeds {card.label}'s {size_text(card.capacity_bytes)}")
            own = own_reserve if own_reserve is not None else int(budget * fragmentation)
            devices[key] = replace(card, capacity_bytes=budget, reserve_bytes=own)
    else:
        for key, budget in sorted(gpu_caps.items()):
            own = own_reserve if own_reserve is not None else int(budget * fragmentation)
            devices.append(Device(key, "gpu", "max_memory budget", budget, own, DEFAULT_HOST_LINK_GB_PER_S))
    for d in devices:
        if d.reserve_bytes >= d.capacity_bytes:
            raise InputError(f"reserve: {size_text(d.reserve_bytes)} leaves nothing of GPU {d.key}'s {size_text(d.capacity_bytes)}")
    cpu_dev = _host_device("cpu", cpu, caps.get("cpu"), 0.0)
    disk_dev = _host_device("disk", disk, caps.get("disk"), disk_gb_per_s)
    if not devices and cpu_dev is None:
        raise InputError("inventory: no devices; give --gpu (e.g. --gpu 2xA100-80GB), --cpu SIZE or --max-memory")
    host = None
    if layout is not None and (layout.islands is not None or layout.island_link is not None):
        if not devices:
            raise InputError("islands: there are no GPUs to group; give --gpu or --max-memory")
        link = gpu_link_kind(find_gpu(devices[0].gpu_type)) if devices[0].gpu_type else "pcie-switch"
        host = HostLayout.of(layout, [int(d.key) for d in devices], link, "")
    return Inventory(tuple(devices), cpu_dev, disk_dev, host)


def _host_device(kind: str, size, budget: int | None, link_gb_per_s: float) -> Device | None:
    if size is not None and budget is not None:
        raise InputError(f"{kind}: given both as --{kind} and in --max-memory; keep one")
    if size is None and budget is None:
        return None
    nbytes = budget if budget is not None else parse_size(size, kind)
    label = "host RAM" if kind == "cpu" else f"disk, {link_gb_per_s:g} GB/s"
    return Device(kind, kind, label, nbytes, 0, link_gb_per_s)


def inventory_from_max_memory(max_memory: Mapping, **kw) -> Inventory:
    """Python API: the dict accelerate's ``max_memory`` takes, e.g. ``{0: "24GiB", "cpu": "64GiB"}``."""
    return build_inventory(max_memory=max_memory, **kw)

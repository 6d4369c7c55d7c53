"""The machines GPUs are bought in and the instances they are rented as (``catalogs/hosts.yaml``).

A purchase answer is whole hosts and a rental answer whole instances, so every sizing candidate
is tied to one of these ``Offer``s: a host of a form factor with its slots, price, power, rack
units, GPU link and network, or a cloud instance whose hourly rate includes the host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from planner.catalog import GpuType, catalog_yaml, find_gpu
from planner.errors import CatalogError, InputError
from planner.hardware.prices import price_of
from planner.hardware.topology import HostLayout, LayoutSpec, gpu_link_kind


@dataclass(frozen=True)
class Offer:
    """One way to get GPUs of a type: a host to buy (``kind="buy"``) or an instance to rent."""

    kind: str
    """buy | rent"""
    name: str
    gpu: GpuType
    slots: int
    """GPUs it takes (a rental instance: the GPUs it comes with)."""
    fixed: bool
    """All slots come populated (an SXM/OAM baseboard, a rental instance)."""
    link: str
    """How its GPUs talk to each other: a gpu_links kind of catalogs/speed_model.yaml."""
    network: str
    """How it talks to other hosts: a networks kind of catalogs/speed_model.yaml."""
    nic_bytes_per_s: float
    host_price_usd: float = 0.0
    """The host without GPUs (buy)."""
    usd_per_hour: float | None = None
    """The whole instance (rent)."""
    host_power_w: float = 0.0
    rack_units: int = 0
    ram_gib: int = 0
    form: str = ""
    provider: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    layout: HostLayout | None = None
    """Its GPUs' islands (hosts.yaml ``topology``); None: every slot on ``link``, one island."""

    @property
    def host(self) -> HostLayout:
        return self.layout or HostLayout.single(self.slots, self.link)

    def gpu_options(self) -> range:
        """How many GPUs one host can be bought or rented with."""
        return range(self.slots, self.slots + 1) if self.fixed else range(1, self.slots + 1)


def _rows() -> dict:
    return catalog_yaml("hosts.yaml") or {}


def _check_kinds(where: str, link: str, network: str) -> None:
    from planner.costs.comm import speed_model

    model = speed_model()
    if link not in model.links:
        raise CatalogError(f"hosts.yaml: {where} has link {link!r}, not a gpu_links kind of speed_model.yaml")
    if network not in model.networks:
        raise CatalogError(f"hosts.yaml: {where} has network {network!r}, not a networks kind of speed_model.yaml")


def _layout(row: dict) -> HostLayout | None:
    """A host's ``topology`` block (islands, link between them) as its HostLayout."""
    if not row.get("topology"):
        return None
    spec = LayoutSpec(**{"island_link": row["link"], **row["topology"]})
    try:
        return HostLayout.of(spec, int(row["slots"]), row["link"], f"hosts.yaml: {row['name']}.topology")
    except InputError as e:
        raise CatalogError(str(e)) from None


@cache
def host_offers() -> tuple[Offer, ...]:
    """Every (host, GPU type) pair of the catalog, as purchase offers."""
    out = []
    for row in _rows().get("hosts", []):
        _check_kinds(row["name"], row["link"], row["network"])
        for gpu_name in row["gpus"]:
            out.append(Offer("buy", row["name"], find_gpu(gpu_name), int(row["slots"]), bool(row.get("fixed", False)),
                             row["link"], row["network"], float(row["nic_gb_per_s"]) * 1e9,
                             host_price_usd=float(row["price_usd"]), host_power_w=float(row["power_w"]),
                             rack_units=int(row["rack_units"]), ram_gib=int(row["ram_gib"]), form=row["form"],
                             sources=dict(row.get("sources") or {}), layout=_layout(row)))
    return tuple(out)


@cache
def instance_offers() -> tuple[Offer, ...]:
    out = []
    for row in _rows().get("instances", []):
        _check_kinds(row["name"], row["link"], row["network"])
        out.append(Offer("rent", row["name"], find_gpu(row["gpu"]), int(row["gpus"]), True, row["link"], row["network"],
                         float(row["nic_gb_per_s"]) * 1e9, usd_per_hour=float(row["usd_per_hour"]),
                         provider=row.get("provider", ""), sources={"price": row.get("source", "")}))
    return tuple(out)


MARKETPLACE_SHAPES = (1, 2, 4, 8)


def offers_for(gpu: GpuType, kind: str, max_slots: int | None = None) -> list[Offer]:
    """The hosts ``gpu`` is bought in, or the instances it rents as. A type with no listed
    instance, or with your own hourly price, rents at its per-GPU rate in the marketplace shapes; a type with no
    listed host is bought as a host of its own link kind priced at nothing but its GPUs.
    ``max_slots`` drops fixed baseboards larger than it and caps the others' slots."""
    if kind == "buy":
        found = [o for o in host_offers() if o.gpu.name == gpu.name]
        if not found and gpu.price_usd:
            found = [Offer("buy", f"{gpu.name} host", gpu, 8, False, gpu_link_kind(gpu), "ethernet-100g", 12.5e9)]
    else:
        # your own --price TYPE=X/h replaces the catalog's instances: shapes at your rate
        yours = gpu.price_usd_per_hour != find_gpu(gpu.name).price_usd_per_hour
        found = [] if yours else [o for o in instance_offers() if o.gpu.name == gpu.name]
        if not found and gpu.price_usd_per_hour:
            label = "your rate" if yours else "marketplace"
            found = [Offer("rent", f"{n} x {gpu.name} ({label})", gpu, n, True, gpu_link_kind(gpu), "ethernet-10g", 1.25e9,
                           usd_per_hour=price_of(gpu, n)[1], provider="per-GPU rate")
                     for n in MARKETPLACE_SHAPES]
    from dataclasses import replace

    found = [replace(o, gpu=gpu) for o in found]  # the caller's GpuType carries the user's --price
    if max_slots is not None:
        found = [o if o.slots <= max_slots else replace(o, slots=max_slots) for o in found
                 if not (o.fixed and o.slots > max_slots)]
    return found

"""The bill of materials of a sizing answer: what to buy (hosts, GPUs) or rent (instances), what
it draws, what it costs up front, per hour and over the horizon, and how fast it serves."""

from __future__ import annotations

from dataclasses import dataclass

from planner.costs.profile import Profile
from planner.hardware.prices import HOURS_PER_YEAR, Energy, break_even_months, hourly, hourly_total
from planner.sizing.candidates import added_gpus, fleet_speed
from planner.sizing.fleet import Sizing


@dataclass(frozen=True)
class BillLine:
    item: str
    kind: str
    """host | gpu | instance | owned"""
    quantity: int
    unit_usd: float | None = None
    unit_usd_per_hour: float | None = None
    power_w: float = 0.0
    """All of this line's units together."""
    rack_units: int = 0
    detail: str = ""

    @property
    def total_usd(self) -> float | None:
        return None if self.unit_usd is None else self.unit_usd * self.quantity

    @property
    def total_usd_per_hour(self) -> float | None:
        return hourly(self.unit_usd_per_hour, self.quantity)


@dataclass(frozen=True)
class Bill:
    lines: tuple[BillLine, ...]
    purchase_usd: float
    usd_per_hour: float
    """Instances rented (0 for a purchase)."""
    power_w: float
    rack_units: int
    hosts: int
    gpus: int
    energy: Energy
    tokens_per_s: float
    """Decode tokens/s serving the concurrency asked, spread over the replicas."""
    step_s: float
    """The longest time between two tokens of a sequence."""
    calibrated: bool
    rental: tuple[str, float] | None = None
    """(the cheapest rental answer, its USD per hour) for a purchase, to compare with."""

    paid_power_w: float = 0.0
    """The power one pays for: hosts and GPUs bought or owned (a rental's rate includes its power)."""

    @property
    def energy_usd_per_hour(self) -> float:
        return self.energy.usd_per_hour(self.paid_power_w)

    @property
    def tco_usd(self) -> float:
        """Purchase, power one pays for, and rent, over the horizon."""
        return self.purchase_usd + self.energy.usd(self.paid_power_w) + self.usd_per_hour * HOURS_PER_YEAR * self.energy.years

    @property
    def break_even_months(self) -> float | None:
        if self.rental is None or not self.purchase_usd:
            return None
        return break_even_months(self.purchase_usd, self.energy_usd_per_hour, self.rental[1])

    @property
    def speed_label(self) -> str:
        from planner.costs.roofline import speed_label

        return speed_label(self.calibrated)


def _host_detail(o) -> str:
    return f"{o.form}, {o.slots} GPU slots, {o.ram_gib} GiB RAM, NIC {o.nic_bytes_per_s / 1e9:g} GB/s ({o.network}), {o.link}"


def bill_of(profile: Profile, s: Sizing, rental: tuple[str, float] | None = None) -> Bill | None:
    if not s.choice:
        return None
    hosts: dict[tuple, list] = {}
    gpus: dict[tuple, list] = {}
    for c, n in s.choice:
        o = c.offer
        key = (o.kind, o.name, c.gpu.name, c.owned)
        h = hosts.setdefault(key, [c, 0])
        h[1] += n * c.hosts
        g = gpus.setdefault(key, [c, 0])
        g[1] += n * c.gpus
    lines = []
    for key, (c, count) in hosts.items():
        o, gcount = c.offer, gpus[key][1]
        if c.owned:
            have = s.limits.owned.get(c.gpu.name, 0)
            lines.append(BillLine(f"{o.name} with {c.gpu.name} (yours)", "owned", count,
                                  power_w=count * o.host_power_w + gcount * c.gpu.board_power_w,
                                  rack_units=count * o.rack_units, detail=f"{min(gcount, have)} of your {have} GPUs in use"))
        elif o.kind == "rent":
            lines.append(BillLine(o.name, "instance", count, unit_usd_per_hour=o.usd_per_hour,
                                  power_w=count * o.host_power_w + gcount * c.gpu.board_power_w,
                                  detail=f"{o.provider}: {o.slots} x {c.gpu.name}, {o.link}"))
        else:
            lines.append(BillLine(f"{o.name} host", "host", count, o.host_price_usd, power_w=count * o.host_power_w,
                                  rack_units=count * o.rack_units, detail=_host_detail(o)))
            lines.append(BillLine(f"{c.gpu.name} GPU", "gpu", gcount, c.gpu.price_usd, power_w=gcount * c.gpu.board_power_w,
                                  detail=f"{c.gpu.memory_bytes / 2**30:.1f} GiB, {c.gpu.board_power_w:g} W"))
    for c, extra in added_gpus(s.choice, s.limits.owned).values():
        lines.append(BillLine(f"{c.gpu.name} GPU (into your {c.offer.name})", "gpu", extra, c.gpu.price_usd,
                              detail="fills free slots of the hosts you have"))
    tokens, step, calibrated = fleet_speed(profile, s.choice, s.context, s.concurrency)
    return Bill(tuple(lines), sum(x.total_usd or 0 for x in lines), hourly_total(x.total_usd_per_hour for x in lines) or 0,
                sum(x.power_w for x in lines), sum(x.rack_units for x in lines),
                sum(c.hosts * n for c, n in s.choice), sum(c.gpus * n for c, n in s.choice), s.energy, tokens, step,
                calibrated, rental, sum(x.power_w for x in lines if x.kind != "instance"))

"""Prices: your own per GPU type (``H100=25000`` to buy, ``H100=2.10/h`` to rent, replacing the
catalog's indicative figures), price x count, and what power costs over a horizon (total cost of
ownership, and where buying breaks even with renting)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from planner.catalog import GpuType, find_gpu
from planner.errors import InputError

Prices = dict[str, tuple[float | None, float | None]]


def _amount(text: str, field: str) -> tuple[float | None, float | None]:
    raw = str(text).strip().lower().replace("usd", "").replace("$", "").replace(" ", "")
    hourly = raw.endswith(("/h", "/hr", "/hour"))
    number = raw.split("/")[0]
    try:
        value = float(number)
    except ValueError:
        raise InputError(f"{field}: cannot read {text!r} as a price; write e.g. 25000 (to buy) or 2.10/h (per hour)") from None
    if not 0 < value < 1e9:
        raise InputError(f"{field}: price must be positive, got {text!r}")
    return (None, value) if hourly else (value, None)


def parse_prices(items: Mapping[str, str | float] | Iterable[str] | None) -> Prices:
    """{catalog name: (purchase USD or None, USD per hour or None)}; two entries for one type merge."""
    if not items:
        return {}
    pairs = items.items() if isinstance(items, Mapping) else [_split(t) for t in items]
    out: Prices = {}
    for name, amount in pairs:
        gpu = find_gpu(str(name))
        buy, hour = _amount(str(amount), f"price[{name}]")
        old = out.get(gpu.name, (None, None))
        if (buy is not None and old[0] is not None) or (hour is not None and old[1] is not None):
            kind = "purchase" if buy is not None else "hourly"
            raise InputError(f"price: {gpu.name} is given two {kind} prices; give each type one purchase price and "
                             "one hourly price at most")
        out[gpu.name] = (buy if buy is not None else old[0], hour if hour is not None else old[1])
    return out


def _split(text: str) -> tuple[str, str]:
    name, sep, amount = str(text).partition("=")
    if not sep:
        raise InputError(f"price: {text!r} is not TYPE=PRICE; write e.g. --price H100=2.10/h or --price RTX4090=1600")
    return name.strip(), amount.strip()


def priced(gpu: GpuType, prices: Prices) -> GpuType:
    buy, hour = prices.get(gpu.name, (None, None))
    if buy is None and hour is None:
        return gpu
    return replace(gpu, price_usd=buy if buy is not None else gpu.price_usd,
                   price_usd_per_hour=hour if hour is not None else gpu.price_usd_per_hour)


USD_PER_HOUR_DIGITS = 4
"""Hourly prices are kept to 1/100 of a cent: enough for a fleet's rate, and stable in JSON."""
USD_PER_HOUR_SCALE = 10**USD_PER_HOUR_DIGITS
"""An hourly price in the solvers' integer units (1/100 of a cent)."""


def hourly(rate: float | None, count: float = 1) -> float | None:
    """USD per hour of ``count`` things at ``rate`` each, rounded once (None: no hourly price)."""
    return None if rate is None else round(rate * count, USD_PER_HOUR_DIGITS)


def hourly_total(rates: Iterable[float | None]) -> float | None:
    """USD per hour of several things (None entries count 0; None when the total is 0)."""
    return round(sum(r or 0 for r in rates), USD_PER_HOUR_DIGITS) or None


def hourly_units(rate: float) -> int:
    """An hourly price as the solvers' integer (USD_PER_HOUR_SCALE per USD)."""
    return round(rate * USD_PER_HOUR_SCALE)


def price_of(gpu: GpuType, count: int) -> tuple[float | None, float | None]:
    """(purchase USD, USD per hour) of ``count`` GPUs of one type; None where the type has no
    such price. The one place a GPU's price is multiplied by a count (a sizing unit adds its hosts:
    sizing/candidates.py)."""
    return (gpu.price_usd * count if gpu.price_usd else None), hourly(gpu.price_usd_per_hour or None, count)


HOURS_PER_YEAR = 8760
DEFAULT_ELECTRICITY_USD_PER_KWH = 0.13
"""US average retail electricity price to the commercial sector, 2024 (EIA Electric Power Monthly,
table 5.3: about 13 US cents per kWh). Pass your own with --electricity."""
DEFAULT_YEARS = 3.0


@dataclass(frozen=True)
class Energy:
    """What power costs over the horizon a total-cost answer counts: every watt drawn all the
    time (a serving fleet at load: the rated board and host power), at one electricity price, times
    the site's power usage effectiveness (cooling and distribution on top of the IT load)."""

    usd_per_kwh: float = DEFAULT_ELECTRICITY_USD_PER_KWH
    years: float = DEFAULT_YEARS
    pue: float = 1.0

    def usd_per_hour(self, watts: float) -> float:
        return watts / 1000 * self.pue * self.usd_per_kwh

    def usd(self, watts: float) -> float:
        return self.usd_per_hour(watts) * HOURS_PER_YEAR * self.years


def break_even_months(purchase_usd: float, own_usd_per_hour: float, rent_usd_per_hour: float) -> float | None:
    """Months after which buying (price up front, then its power) has cost less than renting;
    None when renting is as cheap per hour as running what one bought."""
    saving = rent_usd_per_hour - own_usd_per_hour
    if saving <= 0:
        return None
    return purchase_usd / saving / (HOURS_PER_YEAR / 12)

"""Your own prices: ``H100=25000`` (purchase, USD) or ``H100=2.10/h`` (rental, USD per hour),
replacing the catalog's indicative figures for that GPU type."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

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


def price_of(gpu: GpuType, count: int) -> tuple[float | None, float | None]:
    """(purchase USD, USD per hour) of ``count`` GPUs of one type; None where the type has no
    such price. The one place a price is multiplied by a count."""
    buy = gpu.price_usd * count if gpu.price_usd else None
    rent = round(gpu.price_usd_per_hour * count, 4) if gpu.price_usd_per_hour else None
    return buy, rent


def total_price(parts: Iterable[tuple[GpuType, int]]) -> tuple[float | None, float | None]:
    """(purchase USD, USD per hour) of several (type, count) parts; a total is None when any part
    lacks that price, never a partial sum."""
    prices = [price_of(gpu, count) for gpu, count in parts]
    buy = None if not prices or any(b is None for b, _ in prices) else sum(b for b, _ in prices)
    rent = None if not prices or any(r is None for _, r in prices) else round(sum(r for _, r in prices), 4)
    return buy, rent

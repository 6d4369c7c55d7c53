"""Turning what a user names into the objects the commands take: the model (cached per process,
so a sweep reads each model once), the candidate GPU types with the user's prices, an inventory."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache


def model_spec(model: str, revision: str | None = None, cache: bool = False):
    """The ModelSpec of what the user named; ``cache`` keeps it for the process (a sweep's points
    name the same models again and again; one command reads its model once anyway)."""
    from planner.model.load import load_model

    return _cached_spec(model, revision) if cache else load_model(model, revision)


@lru_cache(maxsize=64)
def _cached_spec(model: str, revision: str | None):
    from planner.model.load import load_model

    return load_model(model, revision)


def candidate_types(names: Iterable[str], prices) -> list:
    """The GPU types named (the whole catalog when none), priced with the user's prices."""
    from planner.catalog import find_gpu, gpu_types
    from planner.hardware.prices import parse_prices, priced

    own = parse_prices(prices)
    names = list(names)
    return [priced(g, own) for g in ([find_gpu(n) for n in names] if names else list(gpu_types()))]


def inventory_of(spec, **overrides):
    """An Inventory from a scenario's ``InventorySpec``; a keyword that is not None replaces its field."""
    from planner.hardware.inventory import build_inventory
    from planner.hardware.prices import parse_prices

    fields = {k: getattr(spec, k) for k in ("gpus", "cpu", "disk", "max_memory", "reserve", "disk_gb_per_s", "prices")}
    fields.update({k: v for k, v in overrides.items() if v is not None and v != ()})
    fields["gpus"] = list(fields["gpus"])
    fields["prices"] = parse_prices(fields["prices"])
    return build_inventory(**fields)

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


def profile_on(model: str, revision: str | None, workload, gpu, has_gpu: bool, cache: bool = False):
    """The profile of ``model`` under ``workload`` as the engine loads it on ``gpu`` (the inventory's
    GPU 0, the one the quantizers check), built once; ``cache`` keeps it for the process (the points of
    a sweep that differ only in their inventory share it)."""
    from planner.costs.profile import profile

    if not cache:
        return profile(model_spec(model, revision), workload, gpu, has_gpu)
    key = (model, revision, workload, getattr(gpu, "name", None), has_gpu)  # a catalog type is known by its name
    found = _PROFILES.get(key)
    if found is None:
        if len(_PROFILES) >= 256:
            _PROFILES.clear()
        found = _PROFILES[key] = profile(model_spec(model, revision, cache=True), workload, gpu, has_gpu)
    return found


_PROFILES: dict = {}


def gguf_model(model: str, revision: str | None = None, engine: str | None = None, cache: bool = False):
    """The GgufModel of what the user named (cached for a sweep like ``model_spec``)."""
    from planner.model.gguf import load_gguf

    return _cached_gguf(model, revision, engine) if cache else load_gguf(model, revision, engine)


@lru_cache(maxsize=64)
def _cached_gguf(model: str, revision: str | None, engine: str | None):
    from planner.model.gguf import load_gguf

    return load_gguf(model, revision, engine)


def candidate_types(names: Iterable[str], prices) -> list:
    """The GPU types named (the whole catalog when none), priced with the user's prices."""
    from planner.catalog import find_gpu, gpu_types
    from planner.hardware.prices import parse_prices, priced

    own = parse_prices(prices)
    names = list(names)
    return [priced(g, own) for g in ([find_gpu(n) for n in names] if names else list(gpu_types()))]


def inventory_of(spec):
    """The Inventory of a request's ``InventorySpec``."""
    from planner.hardware.inventory import build_inventory
    from planner.hardware.prices import parse_prices
    from planner.hardware.topology import LayoutSpec

    fields = {k: getattr(spec, k) for k in ("gpus", "cpu", "disk", "max_memory", "reserve", "disk_gb_per_s")}
    layout = LayoutSpec(islands=spec.islands, island_link=spec.island_link, between_islands=spec.between_islands)
    return build_inventory(**fields, prices=parse_prices(spec.prices), layout=layout)


def have_gpus(text: str):
    """(catalog GpuType, count) of GPUs one has, written ``8xH100``."""
    from planner.catalog import find_gpu
    from planner.errors import InputError
    from planner.hardware.inventory import split_count

    count, name = split_count(text)
    if not 1 <= count <= 1024:
        raise InputError(f"have: GPU count in {text!r} must be between 1 and 1024")
    return find_gpu(name), count


def owned_gpus(have: str, types: list) -> dict[str, int]:
    """The GPUs one has when buying more: {catalog type: count}; the type joins the candidates if it was left out."""
    gpu, count = have_gpus(have)
    if all(t.name != gpu.name for t in types):
        types.append(gpu)
    return {gpu.name: count}

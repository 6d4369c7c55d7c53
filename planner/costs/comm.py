"""Communication time of a served layout: an alpha-beta model per link kind.

``catalogs/speed_model.yaml`` holds, per kind of link between the GPUs of one host, the latency of
one small all-reduce (alpha), what each doubling of the group adds, and the bus bandwidth of large
ones; per kind of network between hosts, the latency of one message (the bandwidth is the host's
NIC). Decode all-reduces are a few kilobytes, so their cost is almost all latency: 2 per layer,
160 per token for an 80-layer model, which a bytes-only roofline misses entirely.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cache

from planner.catalog import catalog_yaml
from planner.errors import CatalogError


@dataclass(frozen=True)
class LinkCost:
    kind: str
    alpha_s: float
    step_s: float
    bus_bytes_per_s: float
    calibrated: str | None = None

    def allreduce_s(self, ranks: int, nbytes: float) -> float:
        """One all-reduce of ``nbytes`` (each rank's buffer) among ``ranks`` GPUs."""
        if ranks <= 1:
            return 0.0
        latency = self.alpha_s + (math.log2(ranks) - 1) * self.step_s
        return latency + 2 * (ranks - 1) / ranks * nbytes / self.bus_bytes_per_s


@dataclass(frozen=True)
class NetworkCost:
    kind: str
    alpha_s: float
    calibrated: str | None = None

    def hop_s(self, nbytes: float, nic_bytes_per_s: float) -> float:
        """One pipeline hop of ``nbytes`` to the next host."""
        return self.alpha_s + nbytes / nic_bytes_per_s


@dataclass(frozen=True)
class SpeedModel:
    hbm_efficiency: float
    compute_efficiency: float
    step_overhead_s: float
    links: dict[str, LinkCost]
    networks: dict[str, NetworkCost]
    calibrated: str | None = None
    other_engines: dict[str, float] = field(default_factory=dict)
    """Per-step overhead (s) of engines other than vLLM, for fitting to their published runs."""

    def for_engine(self, engine: str) -> SpeedModel:
        if engine == "vLLM" or engine not in self.other_engines:
            return self
        return replace(self, step_overhead_s=self.other_engines[engine])

    def link(self, kind: str) -> LinkCost:
        found = self.links.get(kind)
        if found is None:
            raise CatalogError(f"speed model: no gpu_links entry for link kind {kind!r} in speed_model.yaml")
        return found

    def network(self, kind: str) -> NetworkCost:
        found = self.networks.get(kind)
        if found is None:
            raise CatalogError(f"speed model: no networks entry for {kind!r} in speed_model.yaml")
        return found


@cache
def speed_model() -> SpeedModel:
    data = catalog_yaml("speed_model.yaml")
    engine = data["engine"]
    links = {k: LinkCost(k, v["alpha_us"] * 1e-6, v.get("step_us", 0) * 1e-6, v["bus_gb_per_s"] * 1e9, v.get("calibrated"))
             for k, v in data["gpu_links"].items()}
    networks = {k: NetworkCost(k, v["alpha_us"] * 1e-6, v.get("calibrated")) for k, v in data["networks"].items()}
    return SpeedModel(engine["hbm_efficiency"], engine["compute_efficiency"], engine["step_overhead_us"] * 1e-6, links,
                      networks, engine.get("calibrated"),
                      {k: v["step_overhead_us"] * 1e-6 for k, v in (data.get("other_engines") or {}).items()})

"""What a sizing answer is made of: units of whole hosts (to buy) or instances (to rent).

A ``Candidate`` is one vLLM layout on one ``Offer`` (hosts.yaml), as a unit one can buy or rent:
- a layout that fits in one host: the host with ``replicas`` copies of it (a host of loose PCIe
  slots is populated with just those GPUs; an SXM baseboard or an instance has all its GPUs);
- a layout larger than a host: the ``hosts`` it spans, tensor-parallel groups inside a host and
  pipeline stages across them in order (hosts = ceil(pp / (slots // tp))).
Each host of a unit runs one layout, so the packing is exact. The unit's price is its hosts plus
its GPUs (buy) or its instances (rent); its power is its GPUs' board power plus its hosts'.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.catalog import GpuType
from planner.costs.profile import Profile
from planner.costs.roofline import Fabric, Speed, replica_speed
from planner.costs.vllm import DEFAULT_MAX_NUM_SEQS, DEFAULT_UTILIZATION, RankCosts, VllmLayout, tp_pp_layouts
from planner.hardware.hosts import Offer, offers_for
from planner.hardware.prices import Energy, hourly, price_of


@dataclass(frozen=True)
class Candidate:
    layout: VllmLayout
    seqs: int
    """Full-context sequences one replica holds at once (its --max-num-seqs)."""
    speed: Speed
    """One replica's speed."""
    offer: Offer
    replicas: int = 1
    """Replicas one unit runs."""
    hosts: int = 1
    """Hosts (or instances) one unit takes."""
    gpus: int = 0
    """GPUs one unit buys or rents (all slots of a fixed baseboard or instance)."""
    owned: bool = False
    """Made of GPUs and hosts the user already has: no purchase price."""

    @property
    def gpu(self) -> GpuType:
        return self.layout.gpu

    @property
    def fabric(self) -> Fabric:
        return Fabric(self.offer.link, self.offer.network, self.offer.nic_bytes_per_s, self.hosts)

    @property
    def unit_seqs(self) -> int:
        return self.seqs * self.replicas

    @property
    def tokens_per_s(self) -> float:
        return self.speed.decode_tokens_per_s * self.replicas

    @property
    def power_w(self) -> float:
        return self.gpus * self.gpu.board_power_w + self.hosts * self.offer.host_power_w

    @property
    def rack_units(self) -> int:
        return self.hosts * self.offer.rack_units

    @property
    def purchase_usd(self) -> float | None:
        if self.owned:
            return 0.0
        if self.offer.kind != "buy" or not self.gpu.price_usd:
            return None
        return self.hosts * self.offer.host_price_usd + price_of(self.gpu, self.gpus)[0]

    @property
    def usd_per_hour(self) -> float | None:
        if self.owned:
            return 0.0
        return None if self.offer.kind != "rent" else hourly(self.offer.usd_per_hour, self.hosts)

    def cost(self, objective: str, energy: Energy | None = None) -> float:
        """The unit's value of the objective: GPUs, USD to buy, USD per hour, or USD over the horizon."""
        if objective == "gpus":
            return self.gpus
        value = self.usd_per_hour if objective == "hourly" else self.purchase_usd
        if value is None:
            return float("inf")
        if objective == "tco":
            value += (energy or Energy()).usd(self.power_w)
        return value


def gpu_node(gpu: GpuType, slots: int) -> Offer:
    """The fewest-GPUs question counts GPUs only: a host of ``slots`` loose slots on the card's own
    interconnect, priced at nothing."""
    from planner.hardware.topology import gpu_link_kind

    return Offer("buy", f"{slots}-GPU node", gpu, slots, False, gpu_link_kind(gpu), "ethernet-100g", 12.5e9)


def owned_offer(gpu: GpuType, have: int, max_slots: int) -> Offer:
    """The host one's GPUs most likely sit in: a populated baseboard they fill exactly (4 H100s:
    an HGX-4, not half an HGX-8), else the first host with loose slots, else the first listed."""
    offers = offers_for(gpu, "buy", max_slots) or [gpu_node(gpu, max_slots)]
    return next((o for o in offers if o.fixed and have % o.slots == 0), None) or \
        next((o for o in offers if not o.fixed), offers[0])


def owned_hosts(offer: Offer, have: int) -> int:
    """The hosts one's GPUs sit in: as few as hold them."""
    return -(-have // offer.slots)


def added_gpus(choice, owned: dict[str, int]) -> dict[str, tuple[Candidate, int]]:
    """Per owned type, GPUs bought to fill free slots of one's hosts: what the owned units use
    beyond what one has (with a unit to name the type)."""
    out = {}
    for name, have in owned.items():
        units = [(c, n) for c, n in choice if c.owned and c.gpu.name == name]
        extra = sum(c.gpus * n for c, n in units) - have
        if units and extra > 0:
            out[name] = (units[0][0], extra)
    return out


def offer_kind(objective: str) -> str:
    return "rent" if objective == "hourly" else "buy"


def _units(layout: VllmLayout, seqs: int, offer: Offer, speed_of) -> list[Candidate]:
    """The units of one layout on one offer."""
    tp, pp, gpus = layout.tp, layout.pp, layout.gpus
    islands = [offer.host.island_of(group[0]) for group in offer.host.tp_groups(tp)]  # TP groups stay in an island
    per_host = len(islands)
    if not per_host:
        return []
    if pp <= per_host:
        counts = [per_host // pp] if offer.fixed else range(1, per_host // pp + 1)
        out = []
        for k in counts:  # replica r takes groups r*pp .. (r+1)*pp - 1; the slowest replica sets the speed
            hops = max(_crossings(islands[r * pp:(r + 1) * pp]) for r in range(k))
            speed = speed_of(_fabric(offer, 1, hops))
            out.append(Candidate(layout, seqs, speed, offer, k, 1, offer.slots if offer.fixed else k * gpus))
        return out
    hosts = -(-pp // per_host)
    hops = sum(_crossings(islands[:min(per_host, pp - h * per_host)]) for h in range(hosts))
    speed = speed_of(_fabric(offer, hosts, hops))
    return [Candidate(layout, seqs, speed, offer, 1, hosts, hosts * offer.slots if offer.fixed else gpus)]


def _crossings(islands: list[int]) -> int:
    """Pipeline hops between consecutive stages in different islands of one host."""
    return sum(a != b for a, b in zip(islands, islands[1:], strict=False))


def _fabric(offer: Offer, hosts: int, island_hops: int) -> Fabric:
    between = offer.host.between if island_hops else None
    return Fabric(offer.link, offer.network, offer.nic_bytes_per_s, hosts, between, island_hops)


def make_candidates(profile: Profile, gpu_types: list[GpuType], context: int, concurrency: int = 1, gpus_per_node: int = 8,
                    max_gpus: int = 64, utilization: float = DEFAULT_UTILIZATION, max_num_seqs: int = DEFAULT_MAX_NUM_SEQS,
                    costs: RankCosts | None = None, speed_batch: int | None = None, objective: str = "price",
                    owned: dict[str, int] | None = None) -> list[Candidate]:
    """Every unit of every layout that holds at least one full-context sequence, up to the first
    pipeline depth that holds all ``concurrency`` sequences (deeper ones only cost more), on every
    offer of the objective's kind (hosts to buy; instances to rent; for ``gpus``, nodes of
    ``gpus_per_node`` loose slots, so the count is GPUs and nothing else). GPUs
    in ``owned`` ({type: count}) also come as free units in the hosts they sit in (``owned_offer``,
    as few as hold them), whose free slots can take more of the type. Speed is taken
    at ``speed_batch`` running sequences per replica (default: as many as the replica holds)."""
    costs = costs or RankCosts(profile)
    kind = offer_kind(objective)
    out: list[Candidate] = []
    for gpu in gpu_types:
        offers = [gpu_node(gpu, gpus_per_node)] if objective == "gpus" else offers_for(gpu, kind, gpus_per_node)
        have = (owned or {}).get(gpu.name, 0)
        own_offers = [owned_offer(gpu, have, gpus_per_node)] if have else []
        if not offers and not own_offers:
            continue
        for depths in tp_pp_layouts(profile, gpu, max_gpus, gpus_per_node, utilization, max_num_seqs, costs):
            for layout in depths:
                seqs = min(layout.kv_tokens // context, max_num_seqs)
                if seqs < 1:
                    continue
                batch = min(seqs, speed_batch or seqs)

                speeds: dict[Fabric, Speed] = {}  # offers of the same link and network share one figure

                def speed_of(fabric: Fabric, layout=layout, batch=batch, speeds=speeds) -> Speed:
                    if fabric not in speeds:
                        speeds[fabric] = replica_speed(profile, layout, batch, context, fabric)
                    return speeds[fabric]

                for offer in offers:
                    out += [c for c in _units(layout, seqs, offer, speed_of) if c.gpus <= max_gpus]
                for offer in own_offers:
                    out += [replace(c, owned=True) for c in _units(layout, seqs, offer, speed_of)
                            if c.hosts <= owned_hosts(offer, have)]
                if seqs >= min(concurrency, max_num_seqs):
                    break
    return out


def fleet_speed(profile: Profile, choice, context: int, concurrency: int) -> tuple[float, float, bool]:
    """(decode tokens/s, longest time between two tokens in s, all calibrated) of an answer
    serving ``concurrency`` sequences: they are spread over its replicas in proportion to what
    each holds, and every replica is timed at the batch it gets."""
    replicas = [(c, c.seqs) for c, n in choice for _ in range(n * c.replicas)]
    held = sum(s for _, s in replicas)
    total, worst, calibrated, left = 0.0, 0.0, True, concurrency
    for i, (c, seqs) in enumerate(replicas):
        share = left if i == len(replicas) - 1 else min(seqs, round(concurrency * seqs / held))
        share = max(0, min(share, seqs, left))
        left -= share
        if share == 0:
            continue
        speed = replica_speed(profile, c.layout, share, context, c.fabric)
        total += speed.decode_tokens_per_s
        worst = max(worst, speed.decode_step_s)
        calibrated = calibrated and speed.calibrated
    return total, worst, calibrated

"""How GPUs are joined, as a networkx graph that placement and sizing both read.

A machine's GPUs fall into *islands*: GPUs joined by one fast link (an NVSwitch baseboard, NVLink
bridges between pairs of cards, the GPUs under one PCIe switch). Between islands traffic goes
through the host (PCIe switches, the CPU sockets' NUMA nodes and the link between sockets), and
between machines through their network cards. The graph has a vertex per GPU ("box/3"), per
island's fabric, PCIe switch and NUMA node, and per machine's network card; every edge carries the
link kind (a ``gpu_links`` kind of catalogs/speed_model.yaml, or ``network``) and its GB/s. The link
between two GPUs is the narrowest edge of the widest path between them.

- Tensor-parallel groups live inside one island (``HostLayout.tp_groups``): sizing and the cluster
  pipeline take their groups there; a TP group never crosses islands.
- Pipeline hops and a placement's activation hops are priced by the link they cross
  (``Cluster.hops``, ``HostLayout.link_kind``); a device_map's GPU order is chosen with it
  (placement/gpu_order.py).

YAML (``planner size MODEL --cluster cluster.yaml``)::

    network_gb_per_s: 50            # between machines, GB/s (400 Gb/s InfiniBand = 50)
    nodes:
      - {name: a, gpus: 8xA100-80GB}
      - {name: b, gpus: 8xL40S, network_gb_per_s: 25,
         islands: [[0, 1, 2, 3], [4, 5, 6, 7]]}   # two PCIe switches, one per CPU socket
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from planner.catalog import GpuType, find_gpu
from planner.errors import InputError
from planner.yaml_files import read_model

BETWEEN_ISLANDS = "pcie-cross-socket"
"""The link between two islands of one machine unless told otherwise: peer-to-peer through the
CPU sockets (``SYS`` in ``nvidia-smi topo -m``)."""


def link_gb_per_s(kind: str) -> float:
    """Bus GB/s of a gpu_links kind (speed_model.yaml)."""
    from planner.costs.comm import speed_model

    return speed_model().link(kind).bus_bytes_per_s / 1e9


def gpu_link_kind(gpu: GpuType) -> str:
    """The card's own interconnect as a gpu_links kind (PCIe with a switch when it has none listed)."""
    from planner.costs.comm import speed_model

    return gpu.interconnect if gpu.interconnect in speed_model().links else "pcie-switch"


class LayoutSpec(BaseModel):
    """A machine's GPU layout in a YAML file (a cluster node, a plan's inventory)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    islands: list[list[int]] | None = Field(None, max_length=1024)
    """GPU indices (as CUDA numbers them) joined by the fast link, e.g. [[0, 1, 2, 3], [4, 5, 6, 7]];
    every GPU in exactly one (default: all GPUs in one island)."""
    island_link: str | None = None
    """gpu_links kind inside an island (default: the GPU type's own interconnect)."""
    between_islands: str = BETWEEN_ISLANDS
    """gpu_links kind between two islands of the machine."""


@dataclass(frozen=True)
class HostLayout:
    """The GPUs of one machine: which islands they form and the links inside and between them."""

    slots: int
    link: str
    islands: tuple[tuple[int, ...], ...]
    between: str = BETWEEN_ISLANDS

    @staticmethod
    def single(slots: int, link: str) -> HostLayout:
        return HostLayout(slots, link, (tuple(range(slots)),))

    @staticmethod
    def of(spec: LayoutSpec | None, slots: int | list[int], default_link: str, where: str) -> HostLayout:
        """The layout a spec describes, checked: links the speed model knows, islands that split the
        GPUs. ``where`` names the fields in errors (a YAML path; empty: the flags --island-link...).
        The link between islands is never faster than the one inside them (cards without
        peer-to-peer stage every copy through host memory, across sockets too)."""
        from planner.costs.comm import speed_model

        spec = spec or LayoutSpec()
        name = (lambda f: f"{where}.{f}") if where else (lambda f: f.replace("_", "-"))
        link = spec.island_link or default_link
        for field, kind in (("island_link", link), ("between_islands", spec.between_islands)):
            if kind not in speed_model().links:
                raise InputError(f"{name(field)}: {kind!r} is not a link kind; choose one of "
                                 f"{', '.join(sorted(speed_model().links))}")
        between = min((spec.between_islands, link), key=link_gb_per_s)
        gpus = list(range(slots)) if isinstance(slots, int) else sorted(slots)
        if spec.islands is None:
            return HostLayout(len(gpus), link, (tuple(gpus),), between)
        flat = sorted(g for island in spec.islands for g in island)
        if flat != gpus or any(not island for island in spec.islands):
            names = f"{gpus[0]}..{gpus[-1]}" if gpus == list(range(gpus[0], gpus[-1] + 1)) else ", ".join(map(str, gpus))
            raise InputError(f"{name('islands')}: {spec.islands} must hold each GPU ({names}) exactly once, in non-empty "
                             "islands")
        return HostLayout(len(gpus), link, tuple(tuple(sorted(i)) for i in spec.islands), between)

    def island_of(self, gpu: int) -> int:
        return next(k for k, island in enumerate(self.islands) if gpu in island)

    def tp_groups(self, tp: int) -> list[tuple[int, ...]]:
        """Groups of ``tp`` GPUs, each inside one island (consecutive members), in island order."""
        return [island[k * tp:(k + 1) * tp] for island in self.islands for k in range(len(island) // tp)]

    def link_kind(self, a: int, b: int) -> str:
        """The link between two GPUs of the machine: the island's, or the one between islands."""
        return self.link if self.island_of(a) == self.island_of(b) else self.between

    def add_to(self, g, name: str, pcie: float, network: float) -> None:
        """This machine's vertices and edges in graph ``g``: GPU -- its island's fabric (an NVSwitch,
        NVLink bridges or a PCIe switch: the island's link) -- a NUMA node per island (the cards'
        host link, ``pcie`` GB/s), NUMA nodes joined by the link between islands; the machine's
        network card (``network`` GB/s) under every island's fabric, as GPUDirect RDMA servers
        put a NIC beside each group of GPUs."""
        fabric = "pcie-switch" if self.link.startswith("pcie") else "nvlink"
        # a copy between two cards runs at the fabric's rate: NVLink's bus bandwidth, or the
        # slot's own rate through a PCIe switch (the kind's busbw is an all-reduce figure)
        rate = pcie if fabric == "pcie-switch" else link_gb_per_s(self.link)
        for k, island in enumerate(self.islands):
            hub, numa = f"{name}/island{k}", f"{name}/numa{k}"
            g.add_node(hub, kind=fabric)
            g.add_node(numa, kind="numa")
            g.add_edge(hub, numa, kind="pcie-switch", gb_per_s=pcie)
            g.add_edge(hub, f"{name}/nic", kind="network", gb_per_s=network)
            for gpu in island:
                g.add_node(f"{name}/{gpu}", kind="gpu", machine=name, index=gpu)
                g.add_edge(f"{name}/{gpu}", hub, kind=self.link, gb_per_s=rate)
        for k in range(1, len(self.islands)):
            g.add_edge(f"{name}/numa{k - 1}", f"{name}/numa{k}", kind=self.between, gb_per_s=link_gb_per_s(self.between))


class NodeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str
    """A unique name for the machine."""
    gpus: str
    """Its GPUs: COUNTxTYPE, e.g. 8xH100 (one type per machine)."""
    network_gb_per_s: float | None = Field(None, gt=0, validation_alias=AliasChoices("network_gb_per_s", "network_gbps"))
    """Its network card's GB/s (default: the cluster's)."""
    islands: list[list[int]] | None = Field(None, max_length=1024)
    """GPU indices joined by the fast link, e.g. [[0, 1, 2, 3], [4, 5, 6, 7]] (default: all in one island)."""
    island_link: str | None = None
    """gpu_links kind inside an island (default: the GPU type's own interconnect)."""
    between_islands: str = BETWEEN_ISLANDS
    """gpu_links kind between two islands of the machine."""


class ClusterSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    network_gb_per_s: float = Field(50.0, gt=0, validation_alias=AliasChoices("network_gb_per_s", "network_gbps"))
    """Bandwidth between machines in GB/s."""
    nodes: list[NodeSpec] = Field(min_length=1, max_length=256)


@dataclass(frozen=True)
class Node:
    name: str
    gpu: GpuType
    count: int
    network_gb_per_s: float
    layout: HostLayout | None = None
    """Its islands and links (None: all GPUs on the card's own interconnect)."""

    @property
    def host(self) -> HostLayout:
        return self.layout or HostLayout.single(self.count, gpu_link_kind(self.gpu))


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[Node, ...]

    @cached_property
    def graph(self):
        """Every machine's layout (``HostLayout.add_to``) and the network between their cards."""
        import networkx as nx

        g = nx.Graph()
        for node in self.nodes:
            node.host.add_to(g, node.name, node.gpu.host_link_gb_per_s, node.network_gb_per_s)
            g.add_edge(f"{node.name}/nic", "network", kind="network", gb_per_s=node.network_gb_per_s)
        return g

    @cached_property
    def _widest(self) -> dict:
        """Maximum spanning trees: of the whole graph (between machines), and of each machine
        without its network card (inside a machine, traffic between islands stays in the host)."""
        import networkx as nx

        trees = {None: nx.maximum_spanning_tree(self.graph, weight="gb_per_s")}
        for node in self.nodes:
            inside = [v for v in self.graph if v.startswith(f"{node.name}/") and v != f"{node.name}/nic"]
            trees[node.name] = nx.maximum_spanning_tree(self.graph.subgraph(inside), weight="gb_per_s")
        return trees

    def islands(self) -> list[set[str]]:
        """GPU sets joined by one fast link ("box/3"): where a tensor-parallel group may live."""
        return [{f"{n.name}/{g}" for g in island} for n in self.nodes for island in n.host.islands]

    def link(self, a: str, b: str) -> tuple[str, float]:
        """(kind, GB/s) of the narrowest edge on the widest path between two GPUs ("box/3")."""
        import networkx as nx

        if a == b:
            return "local", float("inf")
        machine = a.split("/")[0]
        tree = self._widest[machine if b.split("/")[0] == machine else None]
        path = nx.shortest_path(tree, a, b)
        return min(((tree.edges[u, v]["kind"], tree.edges[u, v]["gb_per_s"]) for u, v in zip(path, path[1:], strict=False)),
                   key=lambda e: e[1])

    def hops(self, stages: list[tuple[str, int]], bytes_per_step: int) -> list[tuple[str, str, str, float, float]]:
        """Each hop of a pipeline whose stages start on GPUs (machine, index), in order, that
        leaves an island: (from, to, link kind, GB/s, seconds to move ``bytes_per_step``); a hop
        across machines is named by the machines, one inside a machine by its GPUs."""
        out = []
        for (ma, ga), (mb, gb) in zip(stages, stages[1:], strict=False):
            if ma == mb and next(n for n in self.nodes if n.name == ma).host.island_of(ga) == \
                    next(n for n in self.nodes if n.name == mb).host.island_of(gb):
                continue
            kind, rate = self.link(f"{ma}/{ga}", f"{mb}/{gb}")
            names = (ma, mb) if ma != mb else (f"{ma}/{ga}", f"{mb}/{gb}")
            out.append((*names, kind, rate, bytes_per_step / (rate * 1e9)))
        return out


def _node(spec: NodeSpec, default_network: float) -> Node:
    from planner.hardware.inventory import split_count

    count, name = split_count(spec.gpus)
    if not 1 <= count <= 64:
        raise InputError(f"nodes[{spec.name}].gpus: {count} GPUs in one machine; use 1 to 64")
    gpu = find_gpu(name)
    layout = LayoutSpec(islands=spec.islands, island_link=spec.island_link, between_islands=spec.between_islands)
    given = spec.islands is not None or spec.island_link is not None
    host = HostLayout.of(layout, count, gpu_link_kind(gpu), f"nodes[{spec.name}]") if given else None
    return Node(spec.name, gpu, count, spec.network_gb_per_s or default_network, host)


def load_cluster(path: str | Path) -> Cluster:
    spec = read_model(path, ClusterSpec, "network_gb_per_s and nodes")
    names = [n.name for n in spec.nodes]
    if len(set(names)) != len(names):
        raise InputError(f"{path}: nodes: machine names repeat; give each a unique name")
    if any("/" in n or not n.strip() for n in names):
        raise InputError(f"{path}: nodes: a machine name is empty or holds '/'; name machines like a100-box")
    return Cluster(tuple(_node(n, spec.network_gb_per_s) for n in spec.nodes))

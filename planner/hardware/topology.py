"""A cluster: machines (nodes) of GPUs, links inside them and a network between them, as a
networkx graph. Tensor-parallel groups must sit inside one island (the GPUs of one machine,
joined by NVLink/NVSwitch or PCIe); pipeline stages may cross the network.

YAML (``planner size MODEL --cluster cluster.yaml``)::

    network_gb_per_s: 50            # between machines, GB/s (400 Gb/s InfiniBand = 50)
    nodes:
      - {name: a, gpus: 8xA100-80GB}
      - {name: b, gpus: 4xL40S, network_gb_per_s: 25}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from planner.catalog import GpuType, find_gpu
from planner.errors import InputError
from planner.yaml_files import read_model


class NodeSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    name: str
    """A unique name for the machine."""
    gpus: str
    """Its GPUs: COUNTxTYPE, e.g. 8xH100 (one type per machine)."""
    network_gb_per_s: float | None = Field(None, gt=0, validation_alias=AliasChoices("network_gb_per_s", "network_gbps"))
    """This machine's network bandwidth in GB/s, if it differs from the cluster's."""


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


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[Node, ...]

    def graph(self):
        """GPUs as vertices ("node/3"); edges carry ``gb_per_s``: the GPUs' interconnect inside a
        machine, the slower of the two machines' network cards between machines."""
        import networkx as nx

        g = nx.Graph()
        for node in self.nodes:
            ids = [f"{node.name}/{i}" for i in range(node.count)]
            g.add_nodes_from(ids, machine=node.name, gpu=node.gpu.name)
            for i, a in enumerate(ids):
                for b in ids[i + 1:]:
                    g.add_edge(a, b, gb_per_s=node.gpu.interconnect_gb_per_s, kind=node.gpu.interconnect)
        for i, a in enumerate(self.nodes):
            for b in self.nodes[i + 1:]:
                g.add_edge(f"{a.name}/0", f"{b.name}/0", gb_per_s=min(a.network_gb_per_s, b.network_gb_per_s), kind="network")
        return g

    def islands(self) -> list[set[str]]:
        """GPU sets joined by links inside a machine: where a tensor-parallel group may live."""
        import networkx as nx

        g = self.graph()
        local = nx.Graph([(a, b) for a, b, k in g.edges(data="kind") if k != "network"])
        local.add_nodes_from(g.nodes)
        return sorted((set(c) for c in nx.connected_components(local)), key=lambda c: sorted(c)[0])

    def hops(self, machines: list[str], bytes_per_step: int) -> list[tuple[str, str, float, float]]:
        """Each hop of a pipeline whose stages run on ``machines`` in order, between two different
        machines: (from, to, GB/s of the narrowest link on the graph's widest path, seconds to
        move ``bytes_per_step`` over it)."""
        out = []
        for a, b in zip(machines, machines[1:], strict=False):
            if a != b:
                rate = self.link_gb_per_s(a, b)
                out.append((a, b, rate, bytes_per_step / (rate * 1e9)))
        return out

    def link_gb_per_s(self, a: str, b: str) -> float:
        """Bandwidth between two machines: the narrowest link of the widest path between them in
        the cluster graph (machines are joined directly, so it is the slower network card)."""
        import networkx as nx

        if a == b:
            return next(n.gpu.interconnect_gb_per_s for n in self.nodes if n.name == a)
        g = self.graph()
        tree = nx.maximum_spanning_tree(g, weight="gb_per_s")
        path = nx.shortest_path(tree, f"{a}/0", f"{b}/0")
        return min(tree.edges[u, v]["gb_per_s"] for u, v in zip(path, path[1:], strict=False))


def _node(spec: NodeSpec, default_network: float) -> Node:
    from planner.hardware.inventory import split_count

    count, name = split_count(spec.gpus)
    if not 1 <= count <= 64:
        raise InputError(f"nodes[{spec.name}].gpus: {count} GPUs in one machine; use 1 to 64")
    return Node(spec.name, find_gpu(name), count, spec.network_gb_per_s or default_network)


def load_cluster(path: str | Path) -> Cluster:
    spec = read_model(path, ClusterSpec, "network_gb_per_s and nodes")
    names = [n.name for n in spec.nodes]
    if len(set(names)) != len(names):
        raise InputError(f"{path}: nodes: machine names repeat; give each a unique name")
    return Cluster(tuple(_node(n, spec.network_gb_per_s) for n in spec.nodes))

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

    def link_gb_per_s(self, a: str, b: str) -> float:
        """Bandwidth between two machines (the path's narrowest link)."""
        if a == b:
            return next(n.gpu.interconnect_gb_per_s for n in self.nodes if n.name == a)
        g = self.graph()
        return g.edges[f"{a}/0", f"{b}/0"]["gb_per_s"]


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

"""The bundled catalogs (GPU types, model configs): one query API for both.

Catalogs live in the top-level ``catalogs/`` folder of a checkout and inside the package
(``planner/catalogs``) of an installed wheel; ``catalog_root`` finds whichever is present.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from planner.errors import CatalogError
from planner.units import MiB


def catalog_root() -> Path:
    here = Path(__file__).resolve().parent
    for candidate in (here / "catalogs", here.parent / "catalogs"):
        if (candidate / "gpus.yaml").is_file():
            return candidate
    raise CatalogError("catalogs: bundled catalog folder not found; reinstall the planner package")


def catalog_yaml(name: str):
    """A catalog YAML file parsed, with libyaml's C parser when PyYAML has it (about ten times
    faster than the pure-Python one, and the catalogs are read on every sizing)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load((catalog_root() / name).read_text(), Loader=loader)  # noqa: S506 (a safe loader)


def _did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name.lower(), [c.lower() for c in choices], n=3, cutoff=0.5)
    lookup = {c.lower(): c for c in choices}
    return f"; did you mean {', '.join(lookup[c] for c in close)}?" if close else ""


@cache
def model_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in (catalog_root() / "models").glob("*.json")))


@cache
def hub_ids() -> dict[str, str]:
    """Catalog name -> the Hugging Face Hub repo id its config.json comes from."""
    return {str(k): str(v) for k, v in (catalog_yaml("hub_ids.yaml") or {}).items()}


def find_model(name: str) -> str | None:
    """Catalog name matching ``name``: the catalog name itself (case-insensitive), or the Hub repo
    id it records (``meta-llama/Llama-3.1-70B``). Another org's repo of the same name is not it."""
    key = name.strip().lower()
    for candidate in model_names():
        if candidate.lower() == key or hub_ids().get(candidate, "").lower() == key:
            return candidate
    return None


def model_config_path(name: str) -> Path:
    found = find_model(name)
    if found is None:
        raise CatalogError(
            f"model: {name!r} is not a catalog model, a config.json or a safetensors folder"
            f"{_did_you_mean(name.split('/')[-1], list(model_names()))} (list them with: planner catalog models)"
        )
    return catalog_root() / "models" / f"{found}.json"


def load_model_config(name: str) -> dict[str, Any]:
    return json.loads(model_config_path(name).read_text())


@dataclass(frozen=True)
class GpuType:
    """One GPU type of the catalog; bytes and GB/s, as the field names say."""

    name: str
    memory_bytes: int
    hbm_gb_per_s: float
    bf16_tflops: float
    fp8_tflops: float | None
    interconnect: str
    interconnect_gb_per_s: float
    host_link_gb_per_s: float
    cuda_context_bytes: int
    price_usd: float | None
    price_usd_per_hour: float | None
    vendor: str = "nvidia"
    compute_capability: tuple[int, int] | None = None
    """What ``torch.cuda.get_device_capability()`` reports; None for a GPU known by size only."""
    aliases: tuple[str, ...] = ()
    board_power_w: float = 0.0
    """Rated board power (TDP/TBP), W: the draw a total-cost figure counts under load."""
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def bf16_supported(self) -> bool:
        """bf16 needs compute capability 8.0 (not a T4 or V100: bf16 models run in fp16 there, same bytes)."""
        return self.compute_capability is None or self.compute_capability >= (8, 0)


def _capability(value) -> tuple[int, int] | None:
    if value is None:
        return None
    major, _, minor = str(value).partition(".")
    return int(major), int(minor or 0)


@cache
def gpu_types() -> tuple[GpuType, ...]:
    rows = catalog_yaml("gpus.yaml")
    out = []
    for row in rows:
        link = row.get("interconnect") or {}
        out.append(
            GpuType(
                name=row["name"], memory_bytes=int(row["memory_mib"]) * MiB,
                hbm_gb_per_s=float(row["hbm_gb_per_s"]), bf16_tflops=float(row["bf16_tflops"]),
                fp8_tflops=row.get("fp8_tflops"), interconnect=str(link.get("kind", "pcie")),
                interconnect_gb_per_s=float(link.get("gb_per_s", 32)), host_link_gb_per_s=float(row.get("host_link_gb_per_s", 25)),
                cuda_context_bytes=int(row.get("cuda_context_mib", 500)) * MiB, price_usd=row.get("price_usd"),
                price_usd_per_hour=row.get("price_usd_per_hour"), vendor=row.get("vendor", "nvidia"),
                compute_capability=_capability(row.get("compute_capability")), board_power_w=float(row.get("board_power_w", 0)),
                aliases=tuple(str(a) for a in row.get("aliases") or ()), sources=dict(row.get("sources") or {}),
            )
        )
    return tuple(out)


def find_gpu(name: str) -> GpuType:
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    for gpu in gpu_types():
        names = [gpu.name, *gpu.aliases]
        if key in {n.lower().replace(" ", "-") for n in names}:
            return gpu
    raise CatalogError(f"gpu: unknown GPU type {name!r}{_closest_gpus(name)} A GPU the catalog lacks is given by its memory, "
                       "e.g. --gpu 12GiB (the types: planner catalog gpus)")


def _squash(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())


def _closest_gpus(name: str) -> str:
    """The catalog types ``name`` most resembles, by name or alias: a name inside another
    (A6000 in RTX-A6000), else difflib's closest."""
    key = _squash(name)
    spelled = {(_squash(n)): g.name for g in gpu_types() for n in (g.name, *g.aliases)}
    inside = sorted({g for n, g in spelled.items() if key and (key in n or n in key) and len(min(key, n, key=len)) >= 3})
    if not inside:
        close = difflib.get_close_matches(key, list(spelled), n=6, cutoff=0.6)
        inside = list(dict.fromkeys(spelled[c] for c in close))
    return f"; did you mean {', '.join(inside[:3])}?" if inside else "."

"""``planner catalog gpus|hosts|models``: the bundled catalogs as tables and JSON. Formats only."""

from __future__ import annotations

import json

from planner.export.table import Column, Table, render


def _gpu_doc(g) -> dict:
    return {"name": g.name, "memory_bytes": g.memory_bytes, "hbm_gb_per_s": g.hbm_gb_per_s, "bf16_tflops": g.bf16_tflops,
            "fp8_tflops": g.fp8_tflops, "interconnect": g.interconnect, "interconnect_gb_per_s": g.interconnect_gb_per_s,
            "price_usd": g.price_usd, "price_usd_per_hour": g.price_usd_per_hour, "board_power_w": g.board_power_w,
            "aliases": list(g.aliases), "sources": g.sources}


def gpus_json(gpus) -> str:
    return json.dumps([_gpu_doc(g) for g in gpus], indent=2)


def gpus_table(gpus, fmt: str) -> str:
    t = Table([Column("name", "name"), Column("memory_bytes", "memory", "GiB"), Column("memory_bytes", "memory", "GB"),
               Column("hbm_gb_per_s", "HBM GB/s", "rate"), Column("bf16_tflops", "bf16 TF", "rate"),
               Column("interconnect", "link"), Column("interconnect_gb_per_s", "link GB/s", "rate"),
               Column("price_usd", "buy USD", "usd"), Column("price_usd_per_hour", "USD/h", "usd_per_hour"),
               Column("board_power_w", "power W", "watts")], main=True)
    for g in gpus:
        t.add(name=g.name, memory_bytes=g.memory_bytes, hbm_gb_per_s=g.hbm_gb_per_s, bf16_tflops=g.bf16_tflops,
              interconnect=g.interconnect, interconnect_gb_per_s=g.interconnect_gb_per_s, price_usd=g.price_usd or None,
              price_usd_per_hour=g.price_usd_per_hour or None, board_power_w=g.board_power_w)
    return render([t], fmt)


def _hosts(host_offers) -> list[dict]:
    hosts: dict[str, dict] = {}
    for o in host_offers:
        row = hosts.setdefault(o.name, {"name": o.name, "form": o.form, "gpus": [], "slots": o.slots, "fixed": o.fixed,
                                        "price_usd": o.host_price_usd, "power_w": o.host_power_w, "rack_units": o.rack_units,
                                        "ram_gib": o.ram_gib, "nic_bytes_per_s": o.nic_bytes_per_s, "link": o.link,
                                        "network": o.network, "sources": o.sources})
        row["gpus"].append(o.gpu.name)
    return list(hosts.values())


def _instances(instance_offers) -> list[dict]:
    return [{"name": o.name, "provider": o.provider, "gpu": o.gpu.name, "gpus": o.slots, "usd_per_hour": o.usd_per_hour,
             "link": o.link, "network": o.network, "source": o.sources.get("price", "")} for o in instance_offers]


def hosts_json(host_offers, instance_offers) -> str:
    return json.dumps({"hosts": _hosts(host_offers), "instances": _instances(instance_offers)}, indent=2)


def hosts_table(host_offers, instance_offers, fmt: str) -> str:
    h = Table([Column("name", "host"), Column("form", "form"), Column("slots", "slots", "count"),
               Column("price_usd", "USD without GPUs", "usd"), Column("power_w", "power W", "watts"),
               Column("rack_units", "U", "count"), Column("link", "GPU link"), Column("network", "network"),
               Column("gpus", "GPU types")], main=True, title="Hosts (bought whole; GPUs priced apart):")
    for row in _hosts(host_offers):
        h.add(**{**row, "gpus": ", ".join(row["gpus"])})
    r = Table([Column("name", "instance"), Column("provider", "provider"), Column("gpu", "GPU"), Column("gpus", "GPUs", "count"),
               Column("usd_per_hour", "USD/h", "usd_per_hour"), Column("link", "GPU link")], _instances(instance_offers),
              title="Instances (rented whole; the rate includes the host):")
    return render([h, "", r], fmt)


def _models(models) -> list[dict]:
    return [{"name": name, "model_type": spec.model_type, "parameters": spec.parameters, "dtype": spec.default_dtype}
            for name, spec in models]


def models_json(models) -> str:
    return json.dumps(_models(models), indent=2)


def models_table(models, fmt: str) -> str:
    t = Table([Column("name", "name"), Column("model_type", "model_type"), Column("parameters", "parameters", "count"),
               Column("dtype", "dtype")], _models(models), main=True)
    return render([t], fmt)

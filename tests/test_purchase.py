"""Purchases as servers: whole hosts with their price, power and rack units, rentals as named
instances, total cost and break-even worked by hand, and the limits people set (power, hosts,
rack units, GPUs already owned) held by every answer and proven against brute force."""

from __future__ import annotations

import json

import pytest
from conftest import assert_input_error, run_cli

from planner import profile
from planner.catalog import find_gpu, gpu_types
from planner.hardware.hosts import host_offers, instance_offers
from planner.hardware.prices import Energy
from planner.sizing.candidates import make_candidates
from planner.sizing.fleet import Limits, size


def _size_json(*args: str) -> dict:
    r = run_cli("size", *args, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_catalog_hosts_cover_every_buyable_gpu_and_name_their_sources():
    buyable = {g.name for g in gpu_types() if g.price_usd}
    assert buyable <= {o.gpu.name for o in host_offers()}
    for o in host_offers():
        assert o.host_price_usd > 0 and o.host_power_w > 0 and o.rack_units > 0 and o.slots in (1, 2, 4, 8)
        assert {"config", "power", "price"} <= set(o.sources), o.name
    assert all(o.usd_per_hour > 0 and o.sources["price"] for o in instance_offers())
    assert all(g.board_power_w > 0 for g in gpu_types())


def test_bill_of_an_hgx_purchase_worked_by_hand():
    """Llama-3.1-70B bf16, 8k x 4 on H100: one HGX-4-Hopper (40,000 USD without GPUs, 1,800 W, 4U)
    with its 4 GPUs (25,000 USD and 700 W each). Power 1,800 + 4 x 700 = 4,600 W; at 0.13 USD/kWh
    that is 0.598 USD/h, 15,715.44 USD over 3 years; the total cost is 140,000 + 15,715.44."""
    doc = _size_json("Llama-3.1-70B", "--context", "8192", "--concurrency", "4", "--gpu-type", "H100", "--objective", "tco")
    bill = doc["bill_of_materials"]
    lines = {x["kind"]: x for x in bill["lines"]}
    assert (lines["host"]["item"], lines["host"]["quantity"], lines["host"]["unit_usd"]) == ("HGX-4-Hopper host", 1, 40_000)
    assert (lines["gpu"]["quantity"], lines["gpu"]["unit_usd"]) == (4, 25_000)
    assert bill["purchase_usd"] == 140_000 and bill["power_w"] == 4_600 and bill["rack_units"] == 4
    assert bill["energy"]["usd_per_hour"] == pytest.approx(0.598)
    assert bill["tco_usd"] == pytest.approx(155_715.44, abs=0.01)
    rent = bill["rental"]
    assert rent["break_even_months"] == pytest.approx(140_000 / (rent["usd_per_hour"] - 0.598) / 730, abs=0.05)
    assert doc["replicas"][0]["speed"] == "calibrated"  # NVLink 4 inside one host: fitted


def test_rental_answers_are_instances_of_the_catalog():
    doc = _size_json("Llama-3.1-70B", "--context", "32768", "--concurrency", "16", "--objective", "hourly",
                     "--gpu-type", "H100", "--gpu-type", "L40S", "--gpu-type", "A100-80GB")
    names = {o.name for o in instance_offers()}
    lines = doc["bill_of_materials"]["lines"]
    assert lines and all(x["kind"] == "instance" and x["item"] in names for x in lines)
    assert doc["price_usd_per_hour"] == pytest.approx(sum(x["total_usd_per_hour"] for x in lines))


@pytest.mark.parametrize("flag, value, key", [("--max-power", "4kW", "power_w"), ("--max-hosts", "2", "hosts"),
                                              ("--max-rack-units", "9", "rack_units")])
def test_limits_hold_and_cost_what_they_cost(flag, value, key):
    base = ["Llama-3.1-70B", "--context", "32768", "--concurrency", "16"]
    free = _size_json(*base)
    bound = _size_json(*base, flag, value)
    limit = 4000 if flag == "--max-power" else int(value)
    assert free["bill_of_materials"][key] > limit  # the limit binds here
    assert bound["status"] == "optimal" and bound["bill_of_materials"][key] <= limit
    assert bound["price_usd"] >= free["price_usd"]


def test_a_limit_nothing_meets_is_infeasible_with_the_fix_named():
    r = run_cli("size", "Llama-3.1-70B", "--context", "32768", "--concurrency", "16", "--max-power", "300")
    assert r.returncode == 3 and "--max-power" in r.stdout


def test_owned_gpus_are_used_first_and_free_slots_filled():
    """2 x RTX-4090 already in a 4-slot workstation; 32 sequences of 8k need a third card: the answer
    buys one card for the free slot (1,800 USD) rather than a host and cards."""
    base = ["Meta-Llama-3-8B", "--context", "8192", "--concurrency", "32"]
    doc = _size_json(*base, "--have", "2xRTX4090", "--buy-more")
    kinds = [x["kind"] for x in doc["bill_of_materials"]["lines"]]
    assert "owned" in kinds and "host" not in kinds
    assert doc["price_usd"] == 1800
    assert doc["price_usd"] < _size_json(*base)["price_usd"]


@pytest.mark.parametrize("args, field", [
    (["--buy-more"], "buy-more"), (["--max-power", "lots"], "max-power"), (["--max-power", "-5kW"], "max-power"),
    (["--max-hosts", "0"], "max-hosts"), (["--electricity", "-1"], "electricity"), (["--pue", "0.5"], "pue"),
    (["--years", "0"], "years"),
])
def test_purchase_flags_bad_input_is_one_line_exit_2(args, field):
    assert_input_error(run_cli("size", "Llama-3.1-70B", *args), field)


def _brute(cands, concurrency, objective, energy, limits: Limits, max_gpus):
    """The least cost over every multiset of units meeting every limit: plain depth-first
    enumeration (a multiset stops growing once it serves the concurrency; costlier branches cut)."""
    best = [None]

    def walk(start, seqs, gpus, hosts, watts, cost):
        if best[0] is not None and cost >= best[0]:
            return
        if seqs >= concurrency:
            best[0] = cost
            return
        for k in range(start, len(cands)):
            c = cands[k]
            if gpus + c.gpus > max_gpus or (limits.max_hosts and hosts + c.hosts > limits.max_hosts):
                continue
            if limits.max_power_w and watts + c.power_w > limits.max_power_w:
                continue
            walk(k, seqs + c.unit_seqs, gpus + c.gpus, hosts + c.hosts, watts + c.power_w, cost + c.cost(objective, energy))

    walk(0, 0, 0, 0, 0.0, 0.0)
    return best[0]


@pytest.mark.parametrize("objective, limits", [
    ("price", Limits(max_hosts=1)), ("tco", Limits(max_power_w=2500)), ("price", Limits(max_hosts=2, max_power_w=1500)),
])
def test_limited_sizing_equals_brute_force(objective, limits):
    prof = profile("Meta-Llama-3-8B", engine="vllm")
    types = [find_gpu("RTX4090"), find_gpu("L4")]
    energy = Energy()
    answer = size(prof, types, 8192, 12, objective, max_gpus=8, energy=energy, limits=limits)
    assert answer.status == "optimal"
    cands = [c for c in make_candidates(prof, types, 8192, 12, max_gpus=8, objective=objective, speed_batch=12)
             if c.cost(objective, energy) != float("inf")]
    best = _brute(cands, 12, objective, energy, limits, 8)
    assert best is not None and answer.objective_value == pytest.approx(best)
    assert not limits.max_hosts or sum(c.hosts * n for c, n in answer.choice) <= limits.max_hosts
    assert not limits.max_power_w or sum(c.power_w * n for c, n in answer.choice) <= limits.max_power_w


def test_owned_sxm_gpus_sit_in_the_baseboard_they_fill():
    """4 H100 SXM one has are an HGX-4 (never half of an HGX-8 to be filled up: a baseboard comes
    populated); 8 are an HGX-8; loose cards sit in the first host with loose slots."""
    from planner.sizing.candidates import owned_offer

    h100, rtx = find_gpu("H100"), find_gpu("RTX4090")
    assert owned_offer(h100, 4, 8).name == "HGX-4-Hopper"
    assert owned_offer(h100, 8, 8).name == "HGX-8-Hopper"
    assert not owned_offer(rtx, 3, 8).fixed
    doc = _size_json("Llama-3.1-70B", "--context", "8192", "--concurrency", "4", "--have", "4xH100", "--buy-more")
    assert doc["price_usd"] == 0 and [x["kind"] for x in doc["bill_of_materials"]["lines"]] == ["owned"]


def test_a_rental_pays_no_electricity_on_top_of_its_rate():
    doc = _size_json("Llama-3.1-70B", "--context", "8192", "--concurrency", "4", "--objective", "hourly", "--gpu-type", "H100")
    bill = doc["bill_of_materials"]
    assert bill["power_w"] > 0 and bill["energy"]["paid_power_w"] == 0 and bill["energy"]["usd_per_hour"] == 0
    assert bill["tco_usd"] == pytest.approx(bill["usd_per_hour"] * 8760 * 3)


def test_your_hourly_price_replaces_the_catalog_instances():
    """--price H100=2.10/h: the answer rents H100s at that rate (shapes of 1/2/4/8), not the
    catalog's instances; a purchase price changes the GPUs' line, not the host's."""
    doc = _size_json("Llama-3.1-70B", "--context", "8192", "--concurrency", "4", "--objective", "hourly", "--gpu-type", "H100",
                     "--price", "H100=2.10/h")
    (line,) = doc["bill_of_materials"]["lines"]
    assert "(your rate)" in line["item"] and line["total_usd_per_hour"] == pytest.approx(2.10 * doc["bill_of_materials"]["gpus"])
    bought = _size_json("Llama-3.1-70B", "--context", "8192", "--concurrency", "4", "--gpu-type", "H100", "--price", "H100=20000")
    lines = {x["kind"]: x for x in bought["bill_of_materials"]["lines"]}
    assert lines["gpu"]["unit_usd"] == 20000 and lines["host"]["unit_usd"] == 40000


def test_an_hourly_price_of_zero_is_a_price():
    from planner.hardware.prices import hourly, hourly_total

    assert hourly(0.0, 4) == 0.0 and hourly(None, 4) is None and hourly(1.23456, 3) == 3.7037
    assert hourly_total([None, 0.0]) is None and hourly_total([1.23456, 2]) == 3.2346

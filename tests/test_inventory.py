"""Sizes and inventories: GiB versus GB as accelerate reads them, budgets versus cards, errors."""

from __future__ import annotations

import pytest

from planner.catalog import find_gpu
from planner.errors import InputError
from planner.hardware.inventory import build_inventory, inventory_from_max_memory, parse_max_memory
from planner.units import parse_size

GiB = 2**30


@pytest.mark.parametrize("text, expected", [
    ("80GiB", 80 * GiB), ("80GB", 80 * 10**9), ("1TiB", 2**40), ("1.5TB", 15 * 10**11), ("512MiB", 512 * 2**20),
    ("24 GiB", 24 * GiB), ("100kb", 100_000), (12345, 12345), ("12345", 12345), ("0.5GiB", GiB // 2),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


def test_parse_size_matches_accelerate(hf):
    from accelerate.utils import convert_file_size_to_int

    for text in ("80GiB", "80GB", "512MiB", "1.5GB", "7KiB"):
        assert parse_size(text) == convert_file_size_to_int(text)


@pytest.mark.parametrize("bad", ["-1GiB", "0", "abc", "nanGB", "inf GB", "0.1", True, "GiB"])
def test_parse_size_rejects(bad):
    with pytest.raises(InputError):
        parse_size(bad)


def test_catalog_gpus_are_whole_cards_with_a_reserve():
    inv = build_inventory(["2xA100-80GB", "RTX4090"], cpu="256GiB")
    a100 = find_gpu("A100-80GB")
    assert [g.capacity_bytes for g in inv.gpus] == [a100.memory_bytes] * 2 + [find_gpu("RTX-4090").memory_bytes]
    assert inv.gpus[0].reserve_bytes == a100.cuda_context_bytes + int(a100.memory_bytes * 0.02)
    assert [g.key for g in inv.gpus] == [0, 1, 2]
    assert inv.cpu.capacity_bytes == 256 * GiB and inv.disk is None


def test_max_memory_budgets_keep_their_indices_and_only_fragmentation():
    inv = inventory_from_max_memory({1: "24GiB", 3: 12 * GiB, "cpu": "64GB"})
    assert [(g.key, g.capacity_bytes) for g in inv.gpus] == [(1, 24 * GiB), (3, 12 * GiB)]
    assert inv.gpus[0].reserve_bytes == int(24 * GiB * 0.02)
    assert inv.cpu.capacity_bytes == 64 * 10**9
    assert inv.disk is None  # accelerate would add disk silently; the planner only when asked


def test_max_memory_caps_named_cards():
    inv = build_inventory(["2xA100-80GB"], max_memory="1=40GiB")
    assert inv.gpus[1].capacity_bytes == 40 * GiB and inv.gpus[0].capacity_bytes == find_gpu("A100-80GB").memory_bytes


def test_weights_only_drops_reserves():
    inv = build_inventory(["RTX4090"]).weights_only()
    assert inv.gpus[0].reserve_bytes == 0


@pytest.mark.parametrize("kwargs, field", [
    (dict(max_memory="0=24GiB,mps=8GiB"), "max-memory"),
    (dict(max_memory="0"), "max-memory"),
    (dict(gpus=["300x24GiB"]), "gpu"),
    (dict(gpus=["24GiB"], reserve="25GiB"), "reserve"),
    (dict(gpus=["24GiB"], disk_gb_per_s=0), "disk-gb-per-s"),
    (dict(), "inventory"),
])
def test_inventory_errors_name_the_field(kwargs, field):
    with pytest.raises(InputError, match=field):
        build_inventory(**kwargs)


def test_parse_max_memory_reads_accelerate_dicts():
    assert parse_max_memory({0: "1GiB", "CPU": 5}) == {0: GiB, "cpu": 5}

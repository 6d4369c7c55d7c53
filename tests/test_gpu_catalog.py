"""The GPU catalog's cards people own and rent, and what a name it does not know gets."""

from __future__ import annotations

import pytest
from conftest import assert_input_error, run_cli

from planner.catalog import find_gpu, gpu_types
from planner.errors import CatalogError

ADDED = ["RTX-A6000", "L40", "H100-NVL", "H100-PCIe", "GH200", "RTX-4080", "RTX-4070-Ti", "RTX-4060-Ti-16GB", "RTX-5090",
         "MI250X", "MI325X"]


@pytest.mark.parametrize("name", ADDED)
def test_cards_people_own_and_rent_are_in_the_catalog(name):
    gpu = find_gpu(name)
    assert gpu.memory_bytes > 8 * 2**30 and gpu.hbm_gb_per_s > 0 and gpu.bf16_tflops > 0 and gpu.board_power_w > 0
    assert gpu.sources.get("memory") and gpu.sources.get("specs"), "every figure names its source"


def test_aliases_people_type():
    assert find_gpu("A6000").name == "RTX-A6000"
    assert find_gpu("rtx a6000").name == "RTX-A6000"
    assert find_gpu("4080").name == "RTX-4080"


@pytest.mark.parametrize("typed, suggested", [("A6000-48GB", "RTX-A6000"), ("4070", "RTX-4070-Ti"), ("H100NVL94", "H100-NVL"),
                                              ("MI250", None), ("H1000", None)])
def test_an_unknown_name_suggests_the_closest_and_a_size(typed, suggested):
    if suggested is None and any(typed.lower() == a.lower() for g in gpu_types() for a in (g.name, *g.aliases)):
        return  # an alias after all
    with pytest.raises(CatalogError) as e:
        find_gpu(typed)
    text = str(e.value)
    assert "--gpu 12GiB" in text and "\\n" not in text
    if suggested:
        assert f"did you mean {suggested}" in text or suggested in text.split("did you mean", 1)[1]


def test_the_cli_line_for_an_unknown_card():
    assert_input_error(run_cli("plan", "Meta-Llama-3-8B", "--gpu", "A6000x"), "RTX-A6000", "--gpu 12GiB")

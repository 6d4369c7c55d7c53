"""Property-based fuzzing of everything a user types or hands over: whatever the text or config,
the answer is a value or a PlannerError (the one-line exit-2 kind), never another exception."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import PlannerError
from planner.hardware.inventory import build_inventory, parse_max_memory
from planner.units import parse_size

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
SIZE_TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(lambda n, u: f"{n}{u}", st.one_of(st.integers(-10**40, 10**40), st.floats(allow_nan=True)),
              st.sampled_from(["", "GiB", "GB", "MiB", "TiB", "gib", "B", "KB", "x", " GiB", "e9"])),
)


@SETTINGS
@given(SIZE_TEXT)
def test_size_text_gives_positive_bytes_or_a_planner_error(text):
    try:
        value = parse_size(text)
    except PlannerError:
        return
    assert isinstance(value, int) and value > 0


@SETTINGS
@given(st.lists(st.one_of(SIZE_TEXT, st.builds(lambda n, g: f"{n}x{g}", st.integers(-5, 300),
                                                  st.sampled_from(["H100", "A100-80GB", "RTX4090", "24GiB", "", "H1OO"]))),
                max_size=3))
def test_gpu_text_gives_an_inventory_or_a_planner_error(gpus):
    try:
        inventory = build_inventory(gpus=gpus)
    except PlannerError:
        return
    assert all(g.capacity_bytes > g.reserve_bytes >= 0 for g in inventory.gpus)


@SETTINGS
@given(st.text(alphabet="0123456789=,:cpudiskGiBM. x-", max_size=40))
def test_max_memory_text_gives_budgets_or_a_planner_error(text):
    try:
        budgets = parse_max_memory(text)
    except PlannerError:
        return
    assert all(v > 0 for v in budgets.values())


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6,
)
KEYS = ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
        "vocab_size", "head_dim", "max_position_embeddings", "rope_scaling", "tie_word_embeddings", "torch_dtype",
        "quantization_config", "model_type", "sliding_window", "rms_norm_eps", "architectures"]
BASE = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 256, "intermediate_size": 512,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 1000,
        "max_position_embeddings": 2048, "torch_dtype": "bfloat16"}


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, min_size=1, max_size=3))
def test_mutated_config_gives_a_spec_or_a_planner_error(changes):
    """A llama config with up to three fields replaced by arbitrary JSON values (a random
    model_type goes to the meta route, which must refuse it in one line too)."""
    from planner.costs.profile import profile
    from planner.model.hf_config import spec_from_config
    from planner.workload import Workload

    config = {**BASE, **changes}
    try:
        spec = spec_from_config(config)
        prof = profile(spec, Workload(dtype="bf16", quant="none"))
    except PlannerError:
        return
    assert prof.weights_bytes > 0 and math.isfinite(prof.total_bytes)

"""Property-based fuzzing with the second round's generators: integers of thousands of digits,
non-finite floats and control characters, through every reader (config.json, safetensors headers,
YAML scenarios, flags). Whatever they are given, the answer is a value or a PlannerError, and an
error line is one line with no control character in it."""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.cli.app import safe_line
from planner.errors import PlannerError

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                                           HealthCheck.function_scoped_fixture])
HUGE_INTS = st.integers(1, 6000).map(lambda n: "9" * n)
NUMBERS = st.one_of(HUGE_INTS, st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "1.5", "1e-300"]),
                    st.integers(-2**70, 2**70).map(str))
CONTROL_TEXT = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x9f), max_size=30)


@SETTINGS
@given(CONTROL_TEXT)
def test_an_error_line_is_one_printable_line(text):
    line = safe_line(f"Error: model: {text}")
    assert "\n" not in line and all(ch.isprintable() or ch == " " for ch in line)


@SETTINGS
@given(st.sampled_from(["hidden_size", "num_hidden_layers", "vocab_size", "num_attention_heads", "intermediate_size"]),
       NUMBERS)
def test_config_json_numbers_give_a_spec_or_a_planner_error(tmp_path, field, number):
    from planner.model.hf_config import spec_from_config
    from planner.model.load import read_config_json

    path = tmp_path / "config.json"
    path.write_text('{"model_type": "llama", "hidden_size": 256, "num_attention_heads": 4, "num_hidden_layers": 2, '
                    f'"intermediate_size": 512, "vocab_size": 1000, "{field}": {number}}}'.replace(f'"{field}": 256, ', "")
                    .replace(f'"{field}": 4, ', "").replace(f'"{field}": 2, ', "").replace(f'"{field}": 512, ', "")
                    .replace(f'"{field}": 1000, ', ""))
    try:
        spec_from_config(read_config_json(path))
    except PlannerError:
        return


@SETTINGS
@given(NUMBERS)
def test_safetensors_shapes_give_a_table_or_a_planner_error(tmp_path, number):
    from planner.model.safetensors import read_header

    raw = ('{"a": {"dtype": "F16", "shape": [' + number + '], "data_offsets": [0, 4]}}').encode()
    path = tmp_path / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    try:
        read_header(path)
    except PlannerError:
        return


@SETTINGS
@given(st.sampled_from(["workload: {batch: N}", "workload: {group_size: N}", "time_limit_s: N",
                        "inventory: {gpus: [H100], disk: 1TiB, disk_gb_per_s: N}", "inventory: {gpus: [NxH100]}",
                        "workload: {batch: !!int N}"]), NUMBERS)
def test_scenario_numbers_give_a_scenario_or_a_planner_error(tmp_path, template, number):
    from planner.answers.inputs import inventory_of
    from planner.scenario import load_scenario

    text = "model: Llama-3.2-1B\n" + template.replace("N", number) + "\n"
    if "inventory" not in template:
        text += "inventory: {gpus: [H100]}\n"
    path = tmp_path / "s.yaml"
    path.write_text(text)
    try:
        inventory_of(load_scenario(path).inventory)
    except PlannerError:
        return


@SETTINGS
@given(st.one_of(NUMBERS, CONTROL_TEXT), st.sampled_from(["xH100", "GiB", "TiB", ""]))
def test_gpu_and_size_flags_give_a_value_or_a_planner_error(number, suffix):
    from planner.hardware.inventory import build_inventory

    try:
        build_inventory(gpus=[number + suffix], cpu=number + "GiB")
    except PlannerError:
        return

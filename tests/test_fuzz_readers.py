"""Property-based fuzzing of the file readers and the command line: safetensors headers and
indexes, YAML scenarios and what-ifs, quantization_config, price lists, device-map documents and
argument lists. Whatever the bytes, the answer is a value or a PlannerError, never another
exception (the CLI: exit 0, 2 or 3 with one line, never a traceback)."""

from __future__ import annotations

import json
import struct
import sys

from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import PlannerError

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=8))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                    max_leaves=8)
DTYPES = st.sampled_from(["F16", "BF16", "F32", "I8", "U8", "F8_E4M3", "BOOL", "X", ""])
ENTRY = st.fixed_dictionaries({"dtype": st.one_of(DTYPES, JSON), "shape": st.one_of(st.lists(st.integers(-2, 6), max_size=3), JSON),
                               "data_offsets": st.one_of(st.lists(st.integers(-4, 80), min_size=2, max_size=2), JSON)})
HEADER = st.dictionaries(st.sampled_from(["a.weight", "model.layers.0.mlp.weight", "__metadata__", "lm_head.weight"]),
                         st.one_of(ENTRY, JSON), max_size=3)


@SETTINGS
@given(HEADER, st.integers(0, 80), st.binary(max_size=16))
def test_safetensors_header_gives_tensors_or_a_planner_error(tmp_path, header, data_len, garbage):
    from planner.model.safetensors import read_header

    path = tmp_path / "model.safetensors"
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * data_len if garbage[:1] != b"\0" else garbage)
    try:
        tensors = read_header(path)
    except PlannerError:
        return
    assert all(all(isinstance(d, int) and d >= 0 for d in t["shape"]) for t in tensors.values())


@SETTINGS
@given(st.one_of(st.dictionaries(st.text(max_size=6), JSON, max_size=3),
                 st.fixed_dictionaries({"weight_map": st.dictionaries(st.sampled_from(["a", "b"]), st.one_of(
                     st.sampled_from(["m-1.safetensors", "m-2.safetensors", "../m-1.safetensors", "/etc/passwd", "",
                                      "sub/../m-1.safetensors", "m-1.safetensors\0"]), JSON), max_size=2)})))
def test_index_gives_a_checkpoint_or_a_planner_error(tmp_path, index):
    from planner.model.safetensors import read_checkpoint

    folder = tmp_path / "ckpt"
    folder.mkdir(exist_ok=True)
    raw = json.dumps({"dtype": "F16", "shape": [2], "data_offsets": [0, 4]})
    header = json.dumps({"a": json.loads(raw)}).encode()
    (folder / "m-1.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 4)
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    try:
        tensors = read_checkpoint(folder)
    except PlannerError:
        return
    assert set(tensors) == {"a"}


SCENARIO_KEYS = st.sampled_from(["model", "workload", "inventory", "objective", "pins", "weights_only", "time_limit_s",
                                 "sweep", "task", "offload_folder", "include"])
WORKLOAD = st.dictionaries(st.sampled_from(["batch", "prompt_tokens", "new_tokens", "dtype", "quant", "kv_dtype", "mode"]),
                           JSON, max_size=2)
INVENTORY = st.dictionaries(st.sampled_from(["gpus", "cpu", "disk", "max_memory", "reserve", "prices"]), JSON, max_size=2)


@SETTINGS
@given(st.dictionaries(SCENARIO_KEYS, st.one_of(JSON, WORKLOAD, INVENTORY), max_size=4), st.booleans())
def test_yaml_scenario_gives_points_or_a_planner_error(tmp_path, doc, as_text_garbage):
    import yaml

    from planner.scenario import load_scenario
    from planner.whatif.schema import load_whatif

    path = tmp_path / "s.yaml"
    doc = {"model": "Llama-3.2-1B", "inventory": {"gpus": ["H100"]}, **doc}
    text = yaml.safe_dump(doc, allow_unicode=True)
    path.write_text(text[: len(text) // 2] if as_text_garbage else text)
    try:
        scenario = load_scenario(path)
        assert isinstance(scenario.model, str) and scenario.workload.batch >= 1
    except PlannerError:
        pass
    try:
        points = load_whatif(path, 100)
        assert 1 <= len(points) <= 100 and [p.index for p in points] == list(range(len(points)))
    except PlannerError:
        pass


@SETTINGS
@given(st.one_of(st.dictionaries(st.sampled_from(["quant_method", "bits", "group_size", "weight_block_size", "load_in_4bit",
                                                  "load_in_8bit", "config_groups", "format", "sym", "bnb_4bit_quant_type",
                                                  "modules_to_not_convert", "zero_point", "version"]),
                                 st.one_of(JSON, st.sampled_from(["gptq", "awq", "fp8", "bitsandbytes", "compressed-tensors",
                                                                  "mxfp4", "hqq", "int4"])), max_size=4), JSON))
def test_quantization_config_gives_a_scheme_or_a_planner_error(qc):
    from planner.costs.quant import QuantScheme, scheme_from_quantization_config

    try:
        scheme = scheme_from_quantization_config(qc)
    except PlannerError:
        return
    assert scheme is None or isinstance(scheme, QuantScheme)


@SETTINGS
@given(st.one_of(st.lists(st.text(alphabet="H100RTX4090A-=/h.0123456789e ", max_size=16), max_size=3),
                 st.dictionaries(st.sampled_from(["H100", "RTX4090", "nope"]), JSON, max_size=2)))
def test_price_list_gives_prices_or_a_planner_error(items):
    from planner.hardware.prices import parse_prices

    try:
        prices = parse_prices(items)
    except PlannerError:
        return
    assert all(p is None or p >= 0 for pair in prices.values() for p in pair)


@SETTINGS
@given(st.one_of(JSON, st.fixed_dictionaries({"device_map": JSON, "max_memory": JSON})))
def test_device_map_document_gives_kwargs_or_a_planner_error(tmp_path, doc):
    from planner.export.device_map import load_device_map

    path = tmp_path / "map.json"
    path.write_text(json.dumps(doc))
    try:
        kwargs = load_device_map(path)
    except PlannerError:
        return
    assert isinstance(kwargs["device_map"], dict) and not any(isinstance(k, str) and k.isdigit() for k in kwargs["max_memory"])


TINY = str(ROOT / "examples" / "tiny-llama")
GOOD = {"--batch": ["1", "4"], "--prompt-tokens": ["128", "4096"], "--new-tokens": ["0", "64"], "--dtype": ["bf16", "fp32"],
        "--quant": ["none", "nf4", "int8", "gptq"], "--kv-dtype": ["fp8", "bf16"], "--gpu": ["H100", "2xRTX4090", "24GiB"],
        "--mode": ["inference", "training"], "--images": ["0"], "--logits": ["all", "last"], "--group-size": ["64", "-1"],
        "--cpu": ["64GiB"], "--disk": ["1TiB"], "--max-memory": ["0=20GiB,cpu=64GiB"], "--reserve": ["1GiB"],
        "--price": ["H100=2.5/h"], "--objective": ["gpus", "cost", "balance"], "--pin": ["lm_head=0"], "--time-limit": ["0.5"],
        "--disk-gb-per-s": ["3"], "--offload-folder": ["off"], "--context": ["2048", "32768"], "--concurrency": ["1", "16"],
        "--target-tokens-per-s": ["100"], "--max-gpus": ["8"], "--gpus-per-node": ["8"], "--gpu-memory-utilization": ["0.9"],
        "--have": ["4xH100"]}
FLAGS = {
    "estimate": ["--batch", "--prompt-tokens", "--new-tokens", "--dtype", "--quant", "--kv-dtype", "--gpu", "--mode",
                 "--images", "--logits", "--group-size"],
    "plan": ["--gpu", "--cpu", "--disk", "--max-memory", "--reserve", "--price", "--objective", "--pin", "--time-limit",
             "--batch", "--new-tokens", "--disk-gb-per-s", "--offload-folder"],
    "size": ["--context", "--concurrency", "--gpu", "--objective", "--target-tokens-per-s", "--max-gpus", "--gpus-per-node",
             "--gpu-memory-utilization", "--price", "--have"],
}
HOSTILE = st.one_of(st.sampled_from(["0", "-1", "nan", "inf", "1e400", "", "=", "0=1GiB,0=2GiB", "99999999999999999999",
                                     "H1OO", "cpu", "1e-300"]), st.text(max_size=12))


def _flag(flag: str):
    good = st.sampled_from(GOOD[flag])
    return st.tuples(st.just(flag), st.one_of(good, good, HOSTILE))


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(FLAGS)).flatmap(
    lambda cmd: st.tuples(st.just(cmd), st.lists(st.sampled_from(FLAGS[cmd]).flatmap(_flag), max_size=3))))
def test_command_line_ends_in_an_answer_or_one_line(monkeypatch, capsys, command):
    """Random flags and values on the real commands (run in this process on a tiny model)."""
    from test_hostile_corpus import run_in_process

    cmd, flags = command
    argv = [cmd, TINY, *[x for flag, value in flags for x in (flag, value)]]
    if cmd == "plan" and not any(f in ("--gpu", "--max-memory", "--cpu") for f, _ in flags):
        argv += ["--gpu", "H100"]
    code, out, err = run_in_process(argv, monkeypatch, capsys)
    assert "Traceback" not in err and code in (0, 2, 3), (argv, code, err)
    if code:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error:"), (argv, err)
    sys.stdout.flush()

"""config.json files no real model has: each is refused with exit 2 and one line that names the
field, before anything is built (a billion layers must not be attempted)."""

from __future__ import annotations

import json

import pytest
from conftest import assert_input_error, run_cli

BASE = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
        "max_position_embeddings": 8192, "torch_dtype": "bfloat16"}

CASES = [
    ({"num_hidden_layers": 10**9}, ["num_hidden_layers", "at most 4,096"]),
    ({"num_hidden_layers": 4951263154.0}, ["num_hidden_layers", "at most 4,096"]),  # found by the fuzzer: a float
    ({"vocab_size": 10**15}, ["vocab_size", "2,147,483,647"]),
    ({"num_key_value_heads": 7}, ["num_attention_heads (32)", "num_key_value_heads (7)"]),
    ({"num_attention_heads": 0}, ["num_attention_heads", ">= 1"]),
    ({"hidden_size": -5}, ["hidden_size"]),
    ({"num_hidden_layers": "32"}, ["num_hidden_layers", "integer"]),
    ({"num_hidden_layers": True}, ["num_hidden_layers", "integer"]),
    ({"num_hidden_layers": 32.5}, ["num_hidden_layers", "integer"]),
    ({"text_config": {"num_hidden_layers": 10**6}}, ["text_config", "num_hidden_layers"]),
]


@pytest.mark.parametrize("change, needles", CASES)
def test_implausible_config_is_refused_in_one_line(tmp_path, change, needles):
    (tmp_path / "config.json").write_text(json.dumps({**BASE, **change}))
    assert_input_error(run_cli("estimate", str(tmp_path)), *needles)


@pytest.mark.parametrize("text, needle", [
    ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
    ("[1, 2, 3]", "expected a JSON object"),
    ('{"model_type": "llama", "hidden_size": NaN}', "hidden_size"),
])
def test_malformed_config_text_is_refused_in_one_line(tmp_path, text, needle):
    (tmp_path / "config.json").write_text(text)
    assert_input_error(run_cli("estimate", str(tmp_path)), needle)


LAUGHS = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
                 for p, k in zip(["", "a", "b", "c", "d", "e", "f", "g"], "abcdefgh", strict=True))


@pytest.mark.parametrize("command", [["plan", "--file"], ["whatif"]])
def test_billion_laughs_yaml_is_refused_before_it_expands(tmp_path, command):
    """A few hundred bytes whose aliases expand to 9^8 = 43 million values: refused at once."""
    path = tmp_path / "laughs.yaml"
    path.write_text(LAUGHS + "model: Meta-Llama-3-8B\nsweep: {workload.batch: *h}\n")
    assert_input_error(run_cli(*command, str(path)), "more than 100,000 values")


def test_oversized_and_deeply_nested_yaml_are_refused(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("model: " + "a" * (2 << 20) + "\n")
    assert_input_error(run_cli("plan", "--file", str(big)), "limit of 1,048,576 bytes")
    deep = tmp_path / "deep.yaml"
    deep.write_text("model: " + "[" * 500 + "]" * 500 + "\n")
    assert_input_error(run_cli("plan", "--file", str(deep)), "too deep")


def test_a_bad_value_is_echoed_short(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("model: Meta-Llama-3-8B\ninventory: {gpus: [H100]}\nworkload: {batch: " + "x" * 5000 + "}\n")
    r = run_cli("plan", "--file", str(path))
    assert_input_error(r, "workload.batch", "characters)")
    assert len(r.stderr) < 400

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

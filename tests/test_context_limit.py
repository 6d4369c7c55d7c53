"""The longest context vLLM accepts, derived from config.json as vLLM derives it, and what the
planner does with a context above it: never a --max-model-len vLLM refuses."""

from __future__ import annotations

import pytest
from conftest import ROOT, run_cli

from planner.spec.context_limit import max_model_len
from planner.spec.load import load_model
from planner.whatif.run import run
from planner.whatif.schema import load_whatif


@pytest.mark.parametrize(("model", "limit"), [
    ("Meta-Llama-3-8B", 8192),             # max_position_embeddings
    ("Llama-3.1-70B", 131072),             # llama3 rope: already extended, no factor
    ("Mixtral-8x22B-v0.1", 65536),
    ("DeepSeek-R1", 163840),               # yarn: original 4096 x factor 40
    ("gpt-oss-20b", 131072),               # yarn: original 4096 x factor 32
    ("gpt2", 1024),                        # n_positions
    ("LLaVA-Video-72B-Qwen2", 32768),
])
def test_limits_of_catalog_models(model, limit):
    assert load_model(model).max_model_len == limit


def test_rules_for_keys_rope_types_and_gemma3():
    assert max_model_len({}) == (2048, "vLLM's default for configs that name no length")
    assert max_model_len({"max_position_embeddings": 4096, "n_positions": 2048})[0] == 2048  # the smallest key
    assert max_model_len({"max_position_embeddings": 4096, "model_max_length": 8192})[0] == 8192  # Command-R's override
    linear = {"max_position_embeddings": 4096, "rope_scaling": {"rope_type": "linear", "factor": 4.0}}
    assert max_model_len(linear)[0] == 16384
    assert max_model_len({**linear, "rope_scaling": {"type": "longrope", "factor": 4.0}})[0] == 4096
    gemma3 = {"model_type": "gemma3_text", "max_position_embeddings": 131072,
              "rope_scaling": {"rope_type": "linear", "factor": 8.0}}
    assert max_model_len(gemma3)[0] == 131072
    per_layer = {"max_position_embeddings": 4096, "rope_parameters": {
        "full_attention": {"rope_type": "linear", "factor": 2.0}, "sliding_attention": {"rope_type": "default"}}}
    assert max_model_len(per_layer)[0] == 8192
    assert max_model_len({"text_config": {"max_position_embeddings": 32768}, "max_position_embeddings": 99})[0] == 32768


def test_a_longer_context_is_infeasible_with_the_reason():
    r = run_cli("size", "Meta-Llama-3-8B", "--context", "131072", "--concurrency", "2")
    assert r.returncode == 3 and not r.stdout
    assert "8,192 positions" in r.stderr and "--context 8192" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    ok = run_cli("size", "Meta-Llama-3-8B", "--context", "8192", "--concurrency", "2", "--json")
    assert ok.returncode == 0 and "--max-model-len 8192" in ok.stdout


def test_whatif_points_above_the_limit_do_not_fit():
    rows = run(load_whatif(ROOT / "examples" / "whatif" / "cluster-context.yaml"), jobs=1, progress=False)
    mixtral = [r for r in rows if r["axes"].get("model") == "Mixtral-8x22B-v0.1" and r["axes"].get("size.context") == 131072]
    assert mixtral and all(r["results"]["status"] == "infeasible" and not r["results"]["fits"] for r in mixtral)
    assert "65,536 positions" in mixtral[0]["results"]["reason"]

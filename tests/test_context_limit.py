"""The longest context vLLM accepts, derived from config.json as vLLM derives it, and what the
planner does with a context above it: never a --max-model-len vLLM refuses."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, run_cli

from planner.model.context_limit import max_model_len
from planner.model.load import load_model
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
    rows = run(load_whatif(ROOT / "examples" / "whatif" / "cluster-context.yaml"), jobs=1)
    mixtral = [r for r in rows if r["axes"].get("model") == "Mixtral-8x22B-v0.1" and r["axes"].get("size.context") == 131072]
    assert mixtral and all(r["results"]["status"] == "infeasible" and not r["results"]["fits"] for r in mixtral)
    assert "65,536 positions" in mixtral[0]["results"]["reason"]


@pytest.mark.parametrize("command", [["estimate"], ["plan", "--gpu", "H100"]])
def test_every_command_holds_a_sequence_to_the_model_limit(command):
    """estimate and plan apply the same limit as size: Llama-2-7b has 4,096 positions, so a
    32k prompt does not fit (exit 3, one line), and 4,096 tokens in all does."""
    r = run_cli(command[0], "Llama-2-7b-hf", *command[1:], "--prompt-tokens", "32768")
    assert r.returncode == 3 and not r.stdout and len(r.stderr.strip().splitlines()) == 1
    assert "4,096 positions" in r.stderr and "--prompt-tokens + --new-tokens at 4096" in r.stderr
    assert run_cli(command[0], "Llama-2-7b-hf", *command[1:], "--prompt-tokens", "4000", "--new-tokens", "96").returncode == 0


def test_size_have_never_claims_a_context_past_the_model():
    """4 x H100 hold far more than 4,096 tokens of Llama-2-7b's KV per sequence; the longest
    context it can serve is still the model's 4,096."""
    r = run_cli("size", "Llama-2-7b-hf", "--have", "4xH100", "--context", "2048", "--concurrency", "4", "--json")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["precisions"]
    assert rows and all(row["longest_context"]["value"] == 4096 for row in rows if row["longest_context"])


def test_images_are_tokens_of_the_sequence():
    """Qwen2.5-VL merges 2 x 2 patches: 16 images of 1,024 patches add 16 x 256 = 4,096 tokens, so
    the KV cache of a 1,024-token prompt with them is that of a 5,120-token prompt without."""
    from planner import profile

    with_images = profile("Qwen2.5-VL-7B-Instruct", images=16, prompt_tokens=1024)
    text_only = profile("Qwen2.5-VL-7B-Instruct", prompt_tokens=1024 + 16 * 256)
    assert with_images.image_tokens == 4096 and with_images.kv_bytes == text_only.kv_bytes
    assert with_images.workload.prompt_tokens == 1024  # the request as asked; the sequence adds the images
    # LLaVA-1.5's 336-pixel tower at patch 14 makes 576 tokens an image
    assert profile("llava-1.5-7b-hf", images=2, prompt_tokens=100).image_tokens == 2 * 576
    r = run_cli("estimate", "Qwen2.5-VL-7B-Instruct", "--images", "16", "--prompt-tokens", "1024")
    assert "16 images x 1024 patches each (4,096 tokens in the sequence)" in r.stdout
    r = run_cli("estimate", "llava-1.5-7b-hf", "--images", "8", "--prompt-tokens", "100")  # 4,708 > 4,096 positions
    assert r.returncode == 3 and "prompt + images + new tokens: 4,708 tokens" in r.stderr


def test_images_on_a_text_model_are_refused():
    from conftest import assert_input_error

    assert_input_error(run_cli("estimate", "Meta-Llama-3-8B", "--images", "2"), "images:", "no vision tower")


def test_size_context_counts_the_images():
    """--context is vLLM's --max-model-len, the whole sequence: 4 images of Qwen2.5-VL (1,024 tokens)
    leave 7,168 tokens of text in an 8,192 context; more images than the context holds are refused."""
    r = run_cli("size", "Qwen2.5-VL-7B-Instruct", "--context", "8192", "--concurrency", "2", "--images", "4", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["context"] == 8192 and "--max-model-len 8192" in doc["replicas"][0]["vllm"]["command"]
    r = run_cli("size", "Qwen2.5-VL-7B-Instruct", "--context", "1024", "--concurrency", "2", "--images", "4")
    assert r.returncode == 2 and "4 images take 1,024 tokens of the 1,024-token context" in r.stderr

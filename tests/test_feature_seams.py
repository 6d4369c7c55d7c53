"""Seams between features that a review of the engine rules found: each answer where two features
meet (a quantized checkpoint x the diagnosis, images x the accelerate map, a cluster x a
quantization's GPU generation, the time limit x sizing) gives the engine's behaviour or a
one-line refusal, never a traceback or a misleading verdict."""

from __future__ import annotations

import ast
import json
from dataclasses import replace

from conftest import ROOT, run_cli

from planner import profile
from planner.answers.size import size_serving
from planner.catalog import find_gpu


def test_the_diagnosis_of_a_dequantized_checkpoint_suggests_no_other_method():
    """gpt-oss-20b loaded with --quant none is its mxfp4 checkpoint dequantized; transformers refuses
    a bitsandbytes config for it, so the diagnosis must not try (it used to end in that refusal)."""
    r = run_cli("plan", "gpt-oss-20b", "--gpu", "8GiB", "--quant", "none")
    assert r.returncode == 3, r.stderr
    assert "Why:" in r.stdout and "--quant int8" not in r.stdout and "--quant nf4" not in r.stdout
    assert "Fits if you: offload to CPU RAM" in r.stdout


def test_the_accelerate_map_of_an_image_request_holds_the_same_sequence():
    """--context is the whole sequence, images included: the transformers map beside vLLM's answer
    is planned for the same 4,096 tokens (576 of them LLaVA-1.5's image), not 576 more."""
    r = run_cli("size", "llava-1.5-7b-hf", "--images", "1", "--context", "4096", "--concurrency", "1",
                "--gpu-type", "L40S", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["replicas"][0]["accelerate"]["status"] == "optimal"


def test_the_workload_line_shows_the_model_s_own_patches():
    r = run_cli("estimate", "llava-1.5-7b-hf", "--images", "1")
    assert "1 images x 576 patches each (576 tokens in the sequence)" in r.stdout


def test_a_cluster_whose_gpus_cannot_run_the_method_is_refused(tmp_path):
    cluster = tmp_path / "old.yaml"
    cluster.write_text("network_gb_per_s: 50\nnodes:\n  - {name: old, gpus: 8xV100-32GB}\n")
    r = run_cli("size", "Meta-Llama-3-8B", "--cluster", str(cluster), "--context", "4096", "--concurrency", "4",
                "--quant", "fp8")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "machine old" in r.stderr and "compute capability 7.5" in r.stderr


def test_a_sizing_left_undecided_is_unknown_not_infeasible():
    prof = profile("Meta-Llama-3-8B", engine="vllm")
    answer = size_serving("Meta-Llama-3-8B", prof, [find_gpu("L40S")], 4096, 2, with_accelerate=False,
                          compare_rental=False)
    assert answer.fits is True and answer.reason == ""
    undecided = replace(answer, sizing=replace(answer.sizing, status="unknown", choice=()))
    assert undecided.fits is None and "time limit" in undecided.reason
    none = replace(answer, sizing=replace(answer.sizing, status="infeasible", choice=(), considered=0))
    assert none.fits is False and "holds one full-context sequence" in none.reason


def test_the_load_line_is_python_to_paste():
    r = run_cli("plan", "Meta-Llama-3-8B", "--quant", "nf4", "--gpu", "RTX4090")
    line = next(x for x in r.stdout.splitlines() if x.startswith("Load with:"))
    config = ast.literal_eval(line.split("quantization_config=", 1)[1].rstrip(")"))
    assert config["load_in_4bit"] is True and config["bnb_4bit_quant_type"] == "nf4"


def test_a_folder_that_names_its_dtype_needs_no_shards(tmp_path):
    """The shards' headers are read only to resolve dtype="auto"; a folder whose config names its
    dtype is sized from the config even while its shards are still downloading."""
    config = json.loads((ROOT / "catalogs" / "models" / "Meta-Llama-3-8B.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "torch_dtype": "bfloat16"}))
    index = {"metadata": {}, "weight_map": {"lm_head.weight": "model-00004-of-00004.safetensors"}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert profile(str(tmp_path)).weights_bytes == profile("Meta-Llama-3-8B").weights_bytes


def test_mxfp4_on_a_machine_without_gpus_names_no_gpu_only_layers():
    """With no GPU, transformers has no accelerator to move mxfp4 experts to: they stay where the map
    puts them; the model runs eager attention (gpt-oss has no sdpa), and the workload line says so.
    Building the spec (a meta forward stopped early) prints nothing on stderr."""
    r = run_cli("plan", "gpt-oss-20b", "--cpu", "64GiB")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert "stay on GPUs" not in r.stdout and "eager (sdpa asked) attention" in r.stdout
    assert "kernels package" in r.stdout  # without them transformers dequantizes: the answer says how to size that


def test_a_gpt_oss_checkpoint_in_bf16_is_quantized_to_mxfp4_while_loading(tmp_path):
    """gpt-oss saved without quantization_config (a bf16 checkpoint) and --quant mxfp4: transformers
    quantizes its experts while loading, and those layers stay on the GPUs it moves them to."""
    config = json.loads((ROOT / "catalogs" / "models" / "gpt-oss-20b.json").read_text())
    config.pop("quantization_config")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    bf16, mx = profile(str(path)), profile(str(path), quant="mxfp4")
    assert mx.load.config == {"quant_method": "mxfp4"} and mx.load.gpu_only_units
    assert mx.weights_bytes < bf16.weights_bytes / 2.5


def test_the_checkpoint_a_size_answer_needs_is_said_once():
    r = run_cli("size", "Meta-Llama-3-8B", "--context", "4096", "--concurrency", "2", "--gpu-type", "L40S",
                "--quant", "awq")
    assert r.returncode == 0 and r.stdout.count("Checkpoint: sized for an AWQ checkpoint") == 1
    assert "# serve an AWQ checkpoint of meta-llama/Meta-Llama-3-8B" in r.stdout

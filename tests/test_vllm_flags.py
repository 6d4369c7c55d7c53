"""Every ``vllm serve`` command the planner prints uses only flags vLLM's engine arguments
define (tests/data/vllm_engine_args.json, recorded from vLLM's source), with values of the
right type and among the choices, and a --max-model-len within the model's own limit."""

from __future__ import annotations

import json
import shlex

import pytest
from conftest import ROOT, assert_input_error, run_cli

from planner import profile

ARGS = json.loads((ROOT / "tests" / "data" / "vllm_engine_args.json").read_text())


def check_command(line: str, max_model_len: int | None) -> None:
    words = shlex.split(line)
    env = []
    while words and "=" in words[0] and not words[0].startswith("-"):
        env.append(words.pop(0).split("=", 1)[0])
    assert set(env) <= set(ARGS["environment"]), env
    assert words[:2] == ["vllm", "serve"] and not words[2].startswith("-"), line
    check_flags(words[3:], max_model_len, line)


def check_flags(flags: list[str], max_model_len: int | None, line: str = "") -> None:
    assert len(flags) % 2 == 0, f"every flag takes one value: {line}"
    seen = set()
    for flag, value in zip(flags[::2], flags[1::2], strict=True):
        rule = ARGS["flags"].get(flag)
        assert rule is not None, f"{flag} is not one of vLLM's engine arguments"
        assert flag not in seen, f"{flag} given twice"
        seen.add(flag)
        if "choices" in rule:
            assert value in rule["choices"], f"{flag} {value}: not one of vLLM's choices"
        elif rule["type"] == "int":
            assert int(value) >= rule["min"], f"{flag} {value}"
        elif rule["type"] == "float":
            assert rule["gt"] < float(value) <= rule["le"], f"{flag} {value}"
        elif rule["type"] == "json_counts":
            counts = json.loads(value)
            assert set(counts) <= set(rule["modalities"]) and all(isinstance(v, int) and v >= 0 for v in counts.values())
    if max_model_len is not None and "--max-model-len" in seen:
        assert int(flags[flags.index("--max-model-len") + 1]) <= max_model_len


def size_answer(model: str, *options: str) -> dict:
    r = run_cli("size", model, *options, "--json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


CASES = [
    ("Meta-Llama-3-8B", ["--context", "8192", "--concurrency", "4"], {"--dtype": "bfloat16"}),
    # vLLM quantizes fp8 while loading: one fp32 scale per tensor (engines/vllm_rules.py)
    ("Meta-Llama-3-8B", ["--context", "8192", "--concurrency", "4", "--kv-dtype", "fp8", "--quant", "fp8"],
     {"--quantization": "fp8", "--kv-cache-dtype": "fp8"}),
    ("Meta-Llama-3-8B", ["--context", "8192", "--concurrency", "4", "--quant", "fp8-block"], {"--quantization": "fp8_per_block"}),
    # a T4 has no bf16
    ("Meta-Llama-3-8B", ["--context", "4096", "--concurrency", "2", "--gpu-type", "T4"], {"--dtype": "float16"}),
    ("Llama-3.1-405B", ["--context", "32768", "--concurrency", "8", "--gpu-type", "A100-40GB", "--max-gpus", "64"],
     {"--max-model-len": "32768"}),
    ("Mixtral-8x7B-v0.1", ["--context", "16384", "--concurrency", "16"], {"--max-model-len": "16384"}),
    # a VLM: the images a prompt carries are vLLM's per-prompt limit
    ("Qwen2.5-VL-7B-Instruct", ["--context", "8192", "--concurrency", "4", "--images", "6"], {"--limit-mm-per-prompt": '{"image": 6}'}),
    ("LLaVA-Video-72B-Qwen2", ["--context", "16384", "--concurrency", "2", "--images", "16"],
     {"--limit-mm-per-prompt": '{"image": 16}'}),
]


@pytest.mark.parametrize("model, options, expected", CASES)
def test_printed_vllm_commands_use_real_engine_arguments(model, options, expected):
    """Each command passes the check, and carries the flags its options call for."""
    answer = size_answer(model, *options)
    limit = profile(model).spec.max_model_len
    lines = [ln for part in answer["replicas"] + answer["alternatives"]
             for ln in [part["vllm"]["command"], *part["vllm"]["launch"]] if ln]
    commands = [ln for ln in lines if "vllm serve" in ln]
    assert commands
    for line in commands:
        check_command(line, limit)
    words = shlex.split(answer["replicas"][0]["vllm"]["command"])
    for flag, value in expected.items():
        assert words[words.index(flag) + 1] == value, (flag, words)


@pytest.mark.parametrize("quant", ["gptq", "awq", "int4", "int8"])
def test_a_checkpoint_method_on_an_unquantized_repo_prints_no_command(quant):
    """vLLM quantizes only fp8 while loading: `--quantization gptq` on meta-llama/Meta-Llama-3-8B ends
    in "Cannot find the config file for gptq". The answer is sized for a checkpoint quantized so,
    says so, and gives that checkpoint's flags instead of a command vLLM would refuse."""
    answer = size_answer("Meta-Llama-3-8B", "--context", "4096", "--concurrency", "2", "--quant", quant)
    assert "checkpoint of meta-llama/Meta-Llama-3-8B" in answer["needs_checkpoint"]
    vllm = answer["replicas"][0]["vllm"]
    assert vllm["command"] is None and not any("vllm serve" in ln for ln in vllm["launch"])
    flags = vllm["launch"][0].split(" with: ", 1)[1]
    check_flags(shlex.split(flags), 8192)
    assert "--quantization" not in flags  # vLLM reads the method from the checkpoint


@pytest.mark.parametrize("quant", ["nf4", "fp4"])
def test_bitsandbytes_is_refused_for_vllm(quant):
    """vLLM 0.34 lists no bitsandbytes method (gone since 0.28): one line naming the fix."""
    r = run_cli("size", "Meta-Llama-3-8B", "--context", "4096", "--concurrency", "2", "--quant", quant)
    assert_input_error(r, "bitsandbytes", "0.28", "--quant fp8")
    assert "bitsandbytes" not in ARGS["flags"]["--quantization"]["choices"]


def test_a_quantized_checkpoint_is_served_without_a_flag(tmp_path):
    """A GPTQ checkpoint: vLLM finds the method in its config (a --quantization that differs is refused)."""
    from conftest import catalog_config

    cfg = dict(catalog_config("Meta-Llama-3-8B"), quantization_config={"quant_method": "gptq", "bits": 4, "group_size": 128,
                                                                         "sym": True})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    answer = size_answer(str(path), "--context", "4096", "--concurrency", "2")
    command = answer["replicas"][0]["vllm"]["command"]
    check_command(command, 8192)
    assert "--quantization" not in command and answer["quant"] == "gptq"
    assert_input_error(run_cli("size", str(path), "--context", "4096", "--concurrency", "2", "--quant", "awq"),
                       "does not match")
    assert_input_error(run_cli("size", str(path), "--context", "4096", "--concurrency", "2", "--quant", "none"),
                       "always loads a gptq checkpoint")


def test_fp8_needs_compute_capability_7_5():
    """vLLM's fp8 (OnlineQuantizationConfig, Fp8Config) needs compute capability 7.5: a V100 (7.0)
    is left out with the reason, and alone it is refused."""
    answer = size_answer("Meta-Llama-3-8B", "--context", "4096", "--concurrency", "2", "--quant", "fp8",
                         "--gpu-type", "V100-32GB", "--gpu-type", "T4")
    assert answer["excluded_gpu_types"] and answer["excluded_gpu_types"][0].startswith("V100-32GB: ")
    assert {r["type"] for r in answer["replicas"]} == {"T4"}
    r = run_cli("size", "Meta-Llama-3-8B", "--context", "4096", "--concurrency", "2", "--quant", "fp8", "--gpu-type", "V100-32GB")
    assert_input_error(r, "compute capability 7.5")


def test_the_check_itself_refuses_an_unknown_flag_and_a_bad_choice():
    with pytest.raises(AssertionError, match="not one of vLLM's engine arguments"):
        check_command("vllm serve m --max-context 4096", None)
    with pytest.raises(AssertionError, match="not one of vLLM's choices"):
        check_command("vllm serve m --dtype bf16", None)
    with pytest.raises(AssertionError):
        check_command("vllm serve m --max-model-len 200000", 131072)


def test_cluster_pipeline_commands_use_real_engine_arguments_and_price_their_hops():
    """The cluster answer's launch lines name the repo id, use only vLLM's flags, and each hop
    between machines is priced at the graph's link bandwidth (25 GB/s between these machines)."""
    r = run_cli("size", "Llama-3.1-70B", "--cluster", str(ROOT / "examples" / "cluster-mixed.yaml"), "--context", "8192",
                "--concurrency", "4", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    limit = profile("Llama-3.1-70B").spec.max_model_len
    for row in doc["by_tensor_parallel_size"]:
        commands = [ln for ln in row["launch"] if "vllm serve" in ln]
        assert commands and all(" meta-llama/Llama-3.1-70B " in ln for ln in commands)
        for line in commands:
            check_command(line, limit)
        machines = [s["machine"] for s in row["stages"]]
        assert len(row["hops"]) == sum(a != b for a, b in zip(machines, machines[1:], strict=False))
        for hop in row["hops"]:
            assert hop["gb_per_s"] == 25
            assert hop["seconds_per_decode_step"] == pytest.approx(hop["bytes_per_decode_step"] / 25e9, abs=1e-9)  # 9 decimals

"""Every ``vllm serve`` command the planner prints uses only flags vLLM's engine arguments
define (tests/data/vllm_engine_args.json, recorded from vLLM's source), with values of the
right type and among the choices, and a --max-model-len within the model's own limit."""

from __future__ import annotations

import json
import shlex

import pytest
from conftest import ROOT, run_cli

from planner import estimate

ARGS = json.loads((ROOT / "tests" / "data" / "vllm_engine_args.json").read_text())


def check_command(line: str, max_model_len: int | None) -> None:
    words = shlex.split(line)
    env = []
    while words and "=" in words[0] and not words[0].startswith("-"):
        env.append(words.pop(0).split("=", 1)[0])
    assert set(env) <= set(ARGS["environment"]), env
    assert words[:2] == ["vllm", "serve"] and not words[2].startswith("-"), line
    flags = words[3:]
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
    if max_model_len is not None and "--max-model-len" in seen:
        assert int(flags[flags.index("--max-model-len") + 1]) <= max_model_len


CASES = [
    ("Meta-Llama-3-8B", ["--context", "8192", "--concurrency", "4"], {"--dtype": "bfloat16"}),
    ("Meta-Llama-3-8B", ["--context", "8192", "--concurrency", "4", "--kv-dtype", "fp8", "--quant", "fp8"],
     {"--quantization": "fp8", "--kv-cache-dtype": "fp8"}),
    # a T4 has no bf16, and vLLM's AWQ kernels take float16
    ("Meta-Llama-3-8B", ["--context", "4096", "--concurrency", "2", "--quant", "awq", "--gpu-type", "T4"],
     {"--quantization": "awq", "--dtype": "float16"}),
    ("Meta-Llama-3-8B", ["--context", "4096", "--concurrency", "2", "--quant", "nf4"], {"--quantization": "bitsandbytes"}),
    ("Meta-Llama-3-8B", ["--context", "4096", "--concurrency", "2", "--quant", "gptq", "--gpu-type", "L4"],
     {"--quantization": "gptq"}),
    ("Llama-3.1-405B", ["--context", "32768", "--concurrency", "8", "--gpu-type", "A100-40GB", "--max-gpus", "64"],
     {"--max-model-len": "32768"}),
    ("Mixtral-8x7B-v0.1", ["--context", "16384", "--concurrency", "16"], {"--max-model-len": "16384"}),
]


@pytest.mark.parametrize("model, options, expected", CASES)
def test_printed_vllm_commands_use_real_engine_arguments(model, options, expected):
    """Each command passes the check, and carries the flags its options call for."""
    r = run_cli("size", model, *options, "--json")
    assert r.returncode == 0, r.stderr
    answer = json.loads(r.stdout)
    limit = estimate(model).spec.max_model_len
    lines = [ln for part in answer["replicas"] + answer["alternatives"]
             for ln in [part["vllm"]["command"], *part["vllm"]["launch"]]]
    commands = [ln for ln in lines if "vllm serve" in ln]
    assert commands
    for line in commands:
        check_command(line, limit)
    words = shlex.split(answer["replicas"][0]["vllm"]["command"])
    for flag, value in expected.items():
        assert words[words.index(flag) + 1] == value, (flag, words)


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
    limit = estimate("Llama-3.1-70B").spec.max_model_len
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

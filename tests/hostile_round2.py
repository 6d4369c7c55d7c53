"""The second round of hostile input (the classes of the hostile-input round 2 issue): numbers too
big for Python's int conversion, values the planner does not size, error text that is not one
safe line, exit statuses, and inputs large enough to hang. Each case is a ``hostile_corpus.Case``
tagged with its class, so ``python tests/hostile_corpus.py`` counts them by class."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from hostile_corpus import BASE, GPU, SCENARIO, TENSOR, Case, config, safetensors, yaml_file

HUGE = "9" * 5000
"""An integer past Python's 4,300-digit conversion limit."""


def _raw_config(d: Path, field: str, raw: str) -> str:
    text = json.dumps({**BASE, field: 0}).replace(f'"{field}": 0', f'"{field}": {raw}')
    return config(d, text)


def _quant(qc):
    return lambda d: ["estimate", config(d, quantization_config=qc)]


def _ct(weights: dict):
    return _quant({"quant_method": "compressed-tensors",
                   "config_groups": {"g": {"targets": ["Linear"], "weights": {"num_bits": 4, **weights}}}})


def _header_ints(d: Path) -> str:
    raw = ('{"a": {"dtype": "F16", "shape": [' + HUGE + '], "data_offsets": [0, 4]}}').encode()
    path = d / "model.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    return str(d)


def _many_tensors(d: Path) -> str:
    header = {f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]} for i in range(1_000_000)}
    safetensors(d / "model.safetensors", header, b"\0" * 1_000_000)
    return str(d)


def _big_index(d: Path) -> str:
    safetensors(d / "m-1.safetensors", {"a": TENSOR}, b"\0" * 4)
    (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {f"t{i}": "m-1.safetensors"
                                                                              for i in range(1_000_000)}}))
    return str(d)


def _fifo_config_beside_weights(d: Path) -> str:
    safetensors(d / "model.safetensors", {"a": TENSOR}, b"\0" * 4)
    os.mkfifo(d / "config.json")
    return str(d)


def _number_cases() -> list[Case]:
    t = ("numbers",)
    return [
        Case("config.json integer of 5,000 digits", lambda d: ["estimate", _raw_config(d, "hidden_size", HUGE)],
             needles=("config.json", "digits"), tags=t),
        Case("safetensors shape of 5,000 digits", lambda d: ["estimate", _header_ints(d)], needles=("digits",), tags=t),
        Case("--gpu with a 5,000-digit count", lambda d: ["plan", "Llama-3.2-1B", "--gpu", f"{HUGE}xH100"],
             needles=("gpu", "digits"), tags=t),
        Case("scenario batch of 5,000 digits", lambda d: ["plan", "--file", yaml_file(d, SCENARIO + f"workload: {{batch: {HUGE}}}\n")],
             needles=("digits",), tags=t),
        Case("cluster network of 5,000 digits",
             lambda d: ["size", "Llama-3.2-1B", "--cluster", yaml_file(d, f"network_gb_per_s: {HUGE}\nnodes: [{{name: a, gpus: 2xH100}}]\n")],
             needles=("digits",), tags=t),
        Case("YAML !!int 1.5", lambda d: ["plan", "--file", yaml_file(d, SCENARIO + "workload: {batch: !!int 1.5}\n")],
             needles=("not valid YAML",), tags=t),
        Case("--disk-gbps 1e-300", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--disk", "1TiB", "--disk-gbps", "1e-300"],
             needles=("disk-gb-per-s",), tags=t),
        Case("--disk-gbps inf", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--disk", "1TiB", "--disk-gbps", "inf"],
             needles=("disk-gb-per-s",), tags=t),
        Case("--cpu 1e29TiB", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--cpu", "1e29TiB"], needles=("cpu", "EiB"), tags=t),
        Case("YAML group_size 10^20", lambda d: ["plan", "--file", yaml_file(d, SCENARIO + "workload: {group_size: 100000000000000000000}\n")],
             needles=("group_size",), tags=t),
        *[Case(f"size --time-limit {v}", lambda d, v=v: ["size", "Llama-3.2-1B", "--time-limit", v], needles=("time-limit",),
               tags=t) for v in ("nan", "0", "-5", "inf")],
    ]


def _nonsense_cases() -> list[Case]:
    t = ("nonsense",)
    return [
        Case("torch_dtype float64", lambda d: ["estimate", config(d, torch_dtype="float64")], needles=("torch_dtype",), tags=t),
        Case("bitsandbytes 4-bit and 8-bit", _quant({"quant_method": "bitsandbytes", "load_in_4bit": True, "load_in_8bit": True}),
             needles=("load_in_8bit",), tags=t),
        Case("compressed-tensors strategy zigzag", _ct({"type": "int", "strategy": "zigzag"}), needles=("strategy",), tags=t),
        Case("compressed-tensors type quaternion", _ct({"type": "quaternion", "strategy": "group"}), needles=("type",), tags=t),
        Case("quantization_config a list", _quant([1, 2]), needles=("quantization_config",), tags=t),
        Case("quantization_config a string", _quant("gptq"), needles=("quantization_config",), tags=t),
        Case("top-8 routing over 2 experts",
             lambda d: ["estimate", config(d, model_type="mixtral", architectures=["MixtralForCausalLM"], num_local_experts=2,
                                          num_experts_per_tok=8)], needles=("num_experts_per_tok",), tags=t),
        Case("gpt2 with 768 / 5 heads",
             lambda d: ["estimate", config(d, json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_embd": 768,
                                                           "n_head": 5, "n_layer": 2, "vocab_size": 1000}))],
             needles=("heads",), tags=t),
        Case("the same --price twice", lambda d: ["size", "Llama-3.2-1B", "--price", "H100=2/h", "--price", "H100=3/h"],
             needles=("price",), tags=t),
        Case("--have and --cluster", lambda d: ["size", "Llama-3.2-1B", "--have", "8xH100", "--cluster",
                                                 yaml_file(d, "nodes: [{name: a, gpus: 2xH100}]\n")], needles=("have",), tags=t),
        Case("an empty --offload-folder", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--offload-folder", ""],
             needles=("offload-folder",), tags=t),
        Case("--device-map-out map.json/", lambda d: ["plan", "Llama-3.2-1B", *GPU, "--device-map-out", str(d / "map.json") + "/"],
             needles=("ends with '/'",), tags=t, check=lambda d: _absent(d / "map.json")),
        Case("config.json a FIFO beside the weights", lambda d: ["estimate", _fifo_config_beside_weights(d)], needles=("FIFO",),
             tags=t),
        Case("a what-if whose every point fails as it runs",
             lambda d: ["whatif", yaml_file(d, SCENARIO + "workload: {mode: training}\nsweep: {workload.batch: [1, 2]}\n")],
             needles=("every point",), tags=t),
    ]


def _absent(path: Path) -> None:
    assert not path.exists(), f"{path.name} was written"


def _line_cases() -> list[Case]:
    t = ("lines",)
    return [
        Case("a model name with a newline", lambda d: ["estimate", "a\nb"], needles=("a\\nb",), tags=t),
        Case("a YAML value with a terminal escape", lambda d: ["plan", "--file", yaml_file(d, 'model: "x\\e[2Jy"\ninventory: {gpus: [H100]}\n')],
             needles=("\\x1b",), tags=t),
        Case("a YAML syntax error", lambda d: ["plan", "--file", yaml_file(d, "model: [\n  a\ninventory: {\n")],
             needles=("not valid YAML",), tags=t),
        Case("planner with no command", lambda d: [], expect="ok", tags=t),
        Case("planner catalog with no command", lambda d: ["catalog"], expect="ok", tags=t),
        Case("a file name with a newline", lambda d: ["whatif", str(d / "a\nb.yaml")], needles=("\\n",), tags=t),
    ]


def _exit_cases() -> list[Case]:
    t = ("exit",)
    long_list = "[" + ", ".join(["1"] * 100_001) + "]"
    nested = "model: " + "[" * 120 + "]" * 120 + "\ninventory: {}\n"
    return [
        Case("Hub id org/a..b", lambda d: ["estimate", "org/a..b"], needles=("not a valid Hub repo id",), tags=t),
        Case("revision ../../evil/ref", lambda d: ["estimate", "org/name", "--revision", "../../evil/ref"],
             needles=("not a branch, tag or commit",), tags=t),
        Case("a 100,001-value list", lambda d: ["whatif", yaml_file(d, SCENARIO + f"sweep: {{workload.batch: {long_list}}}\n")],
             needles=("100,000 values",), tags=t),
        Case("YAML nested 120 deep", lambda d: ["plan", "--file", yaml_file(d, nested)], needles=("s.yaml", "nests"), tags=t),
        Case("a YAML merge key", lambda d: ["plan", "--file", yaml_file(d, "model: Llama-3.2-1B\ninventory:\n  <<: {gpus: [H100]}\n"
                                                                        "  cpu: 8GiB\n")],
             expect="ok", tags=t),
    ]


def _size_cases() -> list[Case]:
    t = ("size",)
    return [
        Case("a safetensors header of 10^6 tensors", lambda d: ["estimate", _many_tensors(d)], needles=("tensors",), tags=t),
        Case("a shard index of 10^6 entries", lambda d: ["estimate", _big_index(d)], needles=("entries",), tags=t),
    ]


def round2_cases() -> list[Case]:
    return [*_number_cases(), *_nonsense_cases(), *_line_cases(), *_exit_cases(), *_size_cases()]

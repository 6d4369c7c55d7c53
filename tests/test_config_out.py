"""Configs written to files of their own: the DeepSpeed config DeepSpeed parses, the vllm serve
script whose every command uses only vLLM's engine arguments, both equal to what the report prints."""

from __future__ import annotations

import json

import pytest
from conftest import assert_input_error, run_cli
from test_vllm_flags import check_command


class _FourWay:  # what DeepSpeed asks an mpu for: a data-parallel world of 4, this process rank 0
    def get_data_parallel_world_size(self):
        return 4

    def get_data_parallel_rank(self):
        return 0

    def get_model_parallel_world_size(self):
        return 1


def test_deepspeed_config_out_is_what_deepspeed_parses(tmp_path, monkeypatch):
    deepspeed = pytest.importorskip("deepspeed")
    from deepspeed.runtime.config import DeepSpeedConfig

    monkeypatch.setattr(deepspeed.runtime.config.dist, "get_rank", lambda *a, **k: 0)
    out = tmp_path / "ds.json"
    r = run_cli("estimate", "Meta-Llama-3-8B", "--mode", "training", "--zero", "2", "--num-gpus", "4", "--batch", "2",
                "--deepspeed-config-out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    written = json.loads(out.read_text())
    assert written == json.loads(r.stdout)["deepspeed_config"]  # the file and the report agree
    parsed = DeepSpeedConfig(written, mpu=_FourWay())
    assert parsed.zero_config.stage == 2 and parsed.train_micro_batch_size_per_gpu == 2


def test_vllm_command_out_is_a_script_of_valid_commands(tmp_path):
    out = tmp_path / "serve.sh"
    r = run_cli("size", "Meta-Llama-3-8B", "--context", "8192", "--concurrency", "8", "--vllm-command-out", str(out), "--json")
    assert r.returncode == 0, r.stderr
    script = out.read_text().splitlines()
    assert script[0] == "#!/bin/sh"
    commands = [line for line in script if not line.startswith("#")]
    assert commands
    for line in commands:
        check_command(line, 8192)
    doc = json.loads(r.stdout)
    launch = [line for unit in doc["replicas"] for line in unit["vllm"]["launch"]]
    assert commands == launch[: len(commands)]


def test_config_out_refused_where_the_answer_has_none(tmp_path):
    assert_input_error(run_cli("estimate", "Meta-Llama-3-8B", "--deepspeed-config-out", str(tmp_path / "x.json")),
                       "deepspeed-config-out", "--mode training")
    assert not (tmp_path / "x.json").exists()
    assert_input_error(run_cli("size", "Meta-Llama-3-8B", "--mode", "training", "--vllm-command-out", str(tmp_path / "s.sh")),
                       "vllm-command-out")
    assert_input_error(run_cli("size", "Meta-Llama-3-8B", "--deepspeed-config-out", str(tmp_path / "d/")), "deepspeed-config-out")

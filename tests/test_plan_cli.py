"""``planner plan`` as a user runs it: JSON contract, accelerate's max_memory form, YAML
scenarios, pins, infeasible diagnosis (exit 3), bad input (one line, exit 2), determinism."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, assert_input_error, run_cli

from planner import profile

GiB = 2**30


def plan_json(*args: str) -> tuple[int, dict]:
    r = run_cli("plan", *args, "--json")
    assert r.stdout, r.stderr
    return r.returncode, json.loads(r.stdout)


def test_json_contract_and_accounting():
    code, doc = plan_json("Meta-Llama-3-8B", "--gpu", "RTX4090", "--gpu", "RTX3090", "--cpu", "64GiB",
                          "--batch", "4", "--prompt-tokens", "2048", "--new-tokens", "256")
    assert code == 0 and doc["status"] == "optimal"
    for key in ("device_map", "max_memory", "offload_folder", "devices"):
        assert key in doc
    assert "solve_seconds" not in doc  # wall clock only with --timings: the same input gives the same bytes
    prof = profile("Meta-Llama-3-8B", batch=4, prompt_tokens=2048, new_tokens=256)
    assert sum(d["weights_bytes"] for d in doc["devices"]) == prof.weights_bytes  # every unit placed once
    # the KV cache of 4 sequences of 2048 + 256 tokens (the last token's KV is never written):
    # 32 layers x 8 KV heads x 128 x 2 (K and V) x 2 bytes per token
    assert sum(d["kv_bytes"] for d in doc["devices"]) == 4 * (2048 + 255) * 32 * 8 * 128 * 2 * 2
    assert all(d["free_bytes"] >= 0 for d in doc["devices"])
    assert doc["offload_folder"] is None and doc["offload_bytes"] == 0
    gpus = [d for d in doc["devices"] if d["kind"] == "gpu"]
    assert sum(1 for d in gpus if d["weights_bytes"]) == 1  # fewest GPUs: 16 GiB of weights fit on one card


def test_max_memory_is_read_as_accelerate_reads_it():
    code, doc = plan_json("Llama-3.1-70B", "--max-memory", "0=24GiB,1=12GiB,2=40GB,cpu=200GiB", "--weights-only")
    assert code == 0
    caps = {str(d["key"]): d["capacity_bytes"] for d in doc["devices"]}
    assert caps == {"0": 24 * GiB, "1": 12 * GiB, "2": 40 * 10**9, "cpu": 200 * GiB}
    assert all(d["kv_bytes"] == 0 and d["activation_bytes"] == 0 and d["reserve_bytes"] == 0 for d in doc["devices"])
    assert "disk" not in doc["device_map"].values()
    acc = doc["accelerate"]
    assert doc["offload_bytes"] <= acc["offload_bytes"]


def test_disk_offload_names_the_folder():
    code, doc = plan_json("Llama-3.1-70B", "--gpu", "24GiB", "--cpu", "32GiB", "--disk", "1TiB", "--offload-folder", "here")
    assert code == 0 and doc["offload_folder"] == "here"
    assert "disk" in doc["device_map"].values()


def test_pins_are_honoured():
    code, doc = plan_json("Meta-Llama-3-8B", "--gpu", "2x24GiB", "--pin", "lm_head=1", "--objective", "balance")
    assert code == 0
    assert doc["device_map"].get("lm_head") == 1


def test_infeasible_says_by_how_much_and_what_fits():
    code, doc = plan_json("Llama-3.1-70B", "--gpu", "2xA100-80GB", "--batch", "8", "--prompt-tokens", "8192")
    assert code == 3 and doc["status"] == "infeasible"
    dg = doc["diagnosis"]
    assert dg["shortfall_bytes"] > 0 and dg["short_devices"]
    tips = " | ".join(dg["suggestions"])
    assert "more A100-80GB" in tips and "--quant int8" in tips and "--cpu" in tips
    r = run_cli("plan", "Llama-3.1-70B", "--gpu", "2xA100-80GB", "--batch", "8", "--prompt-tokens", "8192")
    assert r.returncode == 3 and "GiB short" in r.stdout and "Fits if you:" in r.stdout


def test_suggestions_really_fit():
    """Each suggestion is checked by re-planning; follow one and the plan must succeed."""
    _, doc = plan_json("Llama-3.1-70B", "--gpu", "2xA100-80GB", "--batch", "8", "--prompt-tokens", "8192")
    tip = next(t for t in doc["diagnosis"]["suggestions"] if t.startswith("shorten prompts"))
    tokens = tip.split("at most ")[1].split(" ")[0]
    code, ok = plan_json("Llama-3.1-70B", "--gpu", "2xA100-80GB", "--batch", "8", "--prompt-tokens", tokens)
    assert code == 0
    code, _ = plan_json("Llama-3.1-70B", "--gpu", "2xA100-80GB", "--batch", "8", "--prompt-tokens", str(int(tokens) + 1))
    assert code == 3


def test_device_map_file_is_deterministic(tmp_path):
    out = []
    for k in range(2):
        path = tmp_path / f"map{k}.json"
        r = run_cli("plan", "Mixtral-8x7B-v0.1", "--max-memory", "0=24GiB,1=24GiB,2=24GiB,3=24GiB,cpu=128GiB",
                    "--device-map-out", str(path))
        assert r.returncode == 0, r.stderr
        out.append(path.read_bytes())
    assert out[0] == out[1]
    doc = json.loads(out[0])
    assert set(doc) == {"device_map", "max_memory", "offload_folder", "load_with"}


@pytest.mark.parametrize("example", ["plan-homelab.yaml", "plan-vlm-pinned.yaml"])
def test_yaml_examples_plan(example):
    code, doc = plan_json("--file", str(ROOT / "examples" / example))
    assert code == 0 and doc["status"] in ("optimal", "feasible")
    if example == "plan-vlm-pinned.yaml":
        visual = [u for d in doc["devices"] if d["key"] == 0 for u in d["units"] if u.startswith("model.visual")]
        assert len(visual) == sum(1 for d in doc["devices"] for u in d["units"] if u.startswith("model.visual"))


def test_flags_override_the_file():
    _, doc = plan_json("--file", str(ROOT / "examples" / "plan-homelab.yaml"), "--batch", "1", "--prompt-tokens", "128")
    assert doc["workload"]["batch"] == 1 and doc["workload"]["prompt_tokens"] == 128
    assert doc["workload"]["new_tokens"] == 256  # from the file


@pytest.mark.parametrize("args, field", [
    (["Meta-Llama-3-8B", "--max-memory", "0=lots"], "max-memory[0]"),
    (["Meta-Llama-3-8B", "--max-memory", "gpu0=24GiB"], "max-memory"),
    (["Meta-Llama-3-8B", "--gpu", "H1000"], "did you mean"),
    (["Meta-Llama-3-8B", "--gpu", "0x24GiB"], "gpu"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--cpu", "-5GiB"], "cpu"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--pin", "model.vision=0"], "pin"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--pin", "lm_head=3"], "pin"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--pin", "lm_head"], "pin"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--max-memory", "1=10GiB"], "max-memory"),
    (["Meta-Llama-3-8B", "--gpu", "RTX4090", "--max-memory", "0=30GiB"], "exceeds"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--time-limit", "-1"], "time-limit"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--reserve", "30GiB"], "reserve"),
    (["Meta-Llama-3-8B"], "inventory"),
    (["--gpu", "24GiB"], "model"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--batch", "0"], "batch"),
    (["Meta-Llama-3-8B", "--gpu", "24GiB", "--cpu", "1GiB", "--max-memory", "cpu=2GiB"], "cpu"),
])
def test_bad_input_is_one_line_exit_2(args, field):
    assert_input_error(run_cli("plan", *args), field)


@pytest.mark.parametrize("text, field", [
    ("model: Meta-Llama-3-8B\ninventory: {gpus: [24GiB]}\nworkload: {batchh: 2}\n", "workload.batchh: unknown key"),
    ("model: Meta-Llama-3-8B\ninventory: {gpus: [24GiB]\n", "not valid YAML"),
    ("inventory: {gpus: [24GiB]}\n", "model"),
    ("model: Meta-Llama-3-8B\ninventory: {gpus: [24GiB]}\nobjective: fastest\n", "objective"),
    ("- a\n- b\n", "mapping"),
])
def test_bad_scenario_files(tmp_path, text, field):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert_input_error(run_cli("plan", "--file", str(path)), field, str(path))


def test_python_api_gives_the_cli_plan():
    import planner

    p = planner.plan("Mixtral-8x7B-v0.1", max_memory={0: "24GiB", 1: "24GiB", 2: "24GiB", 3: "24GiB", "cpu": "128GiB"},
                     weights_only=True, objective="balance")
    _, doc = plan_json("Mixtral-8x7B-v0.1", "--max-memory", "0=24GiB,1=24GiB,2=24GiB,3=24GiB,cpu=128GiB", "--weights-only",
                       "--objective", "balance")
    assert p.status == doc["status"] == "optimal"
    assert p.device_map == doc["device_map"]
    assert p.offload_bytes == doc["offload_bytes"] == 0
    assert p.baseline.offload_bytes == doc["accelerate"]["offload_bytes"] > 0  # accelerate offloads 2.9 GiB here


def test_same_input_same_table():
    args = ("plan", "Llama-3.1-70B", "--gpu", "RTX4090", "--gpu", "RTX3090", "--cpu", "128GiB", "--batch", "2")
    first, second = run_cli(*args), run_cli(*args)
    assert first.returncode == 0 and first.stdout == second.stdout


@pytest.mark.parametrize("command", [
    ("plan", "Llama-3.1-70B", "--gpu", "RTX4090", "--gpu", "RTX3090", "--cpu", "128GiB", "--batch", "2", "--json"),
    ("size", "Llama-3.1-70B", "--context", "8192", "--concurrency", "8", "--gpu-type", "H100", "--gpu-type", "L40S", "--json"),
])
def test_same_input_same_json_bytes_and_timings_only_when_asked(command):
    """An offloading plan (CP-SAT) and a purchase: twice the same bytes; the solver's wall clock
    appears only with --timings."""
    first, second = run_cli(*command), run_cli(*command)
    assert first.returncode == 0 and first.stdout == second.stdout and "solve_seconds" not in first.stdout
    timed = json.loads(run_cli(*command, "--timings").stdout)
    assert isinstance(timed["solve_seconds"], float) and timed["solve_seconds"] >= 0
    assert {k: v for k, v in timed.items() if k != "solve_seconds"} == json.loads(first.stdout)


def test_cpu_only_runs_everything_on_the_cpu():
    code, doc = plan_json("Meta-Llama-3-8B", "--cpu", "64GiB")
    assert code == 0 and doc["device_map"] == {"": "cpu"} and doc["offload_bytes"] == 0
    assert doc["accelerate"]["offload_bytes"] == 0


def test_a_gpu_too_small_to_run_anything_points_to_a_bigger_card():
    code, doc = plan_json("Meta-Llama-3-8B", "--gpu", "1GiB", "--cpu", "8GiB")
    assert code == 3
    assert any(t.startswith("add 1 more") for t in doc["diagnosis"]["suggestions"])


def test_large_coefficients_do_not_fool_the_solver():
    """gemma-2-27b in fp32 has a 4.7 GB embedding. With byte counts above 2^32 as coefficients,
    CP-SAT 9.15's presolve called this placement infeasible although one verifies by hand; the
    model now works in scaled units."""
    from planner import profile
    from planner.hardware.inventory import build_inventory
    from planner.placement.plan import make_plan
    from planner.placement.problem import build_problem
    from planner.placement.verify import verify

    prof = profile("gemma-2-27b", prompt_tokens=4096, new_tokens=256)
    inventory = build_inventory(["RTX4090", "RTX3090"], cpu="128GiB")
    problem = build_problem(prof, inventory, "balance")
    by_hand = tuple([0] * 4 + [1] * 3 + [2] * (len(problem.items) - 7))
    assert verify(problem, by_hand) == []
    plan = make_plan(prof, inventory, "balance", diagnose=False)
    assert plan.status in ("optimal", "feasible") and verify(problem, plan.assignment) == []


def test_written_map_loads_into_accelerate_with_int_gpu_keys(tmp_path, hf):
    from accelerate.utils import get_max_memory

    from planner import load_device_map

    path = tmp_path / "map.json"
    r = run_cli("plan", "Meta-Llama-3-8B", "--max-memory", "0=12GiB,1=12GiB,cpu=64GiB", "--device-map-out", str(path))
    assert r.returncode == 0, r.stderr
    raw = json.loads(path.read_text())
    with pytest.raises(ValueError):  # why the loader exists: JSON object keys are strings
        get_max_memory(raw["max_memory"])
    doc = load_device_map(path)
    assert set(doc["max_memory"]) == {0, 1, "cpu"} and set(doc["device_map"].values()) <= {0, 1, "cpu"}
    assert get_max_memory(doc["max_memory"]) == doc["max_memory"]


def test_objectives_are_reported_in_their_own_units():
    """DeepSeek-R1 in bf16 on two H100s and the CPU: its 22 GB MoE layers cost more than 2^28 ns
    each to bring over the host link, so CP-SAT works in scaled units; the JSON still reports the
    offload time in nanoseconds: the bytes offloaded over the H100's 64 GB/s host link (PCIe 5.0
    x16), within 1 ns per offloaded unit of rounding."""
    code, doc = plan_json("DeepSeek-R1", "--dtype", "bf16", "--quant", "none", "--gpu", "2xH100", "--cpu", "1536GiB")
    assert code == 0 and doc["status"] == "optimal"
    offloaded = sum(len(d["units"]) for d in doc["devices"] if d["kind"] == "cpu")
    assert abs(doc["objectives"]["offload_ns"] - doc["offload_bytes"] / 64) <= offloaded
    assert doc["objectives"]["gpus"] == 2

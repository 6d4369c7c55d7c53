"""llama.cpp splits: the CP-SAT answer against brute force over every split llama.cpp can express,
llama.cpp's assignment rule on known cases, and every printed flag against llama.cpp's own
argument list (recorded from common/arg.cpp)."""

from __future__ import annotations

import itertools
import json

import pytest
from conftest import ROOT, run_cli
from gguf_files import write_model
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.engines.llamacpp_rules import parse_overrides, slot_devices  # noqa: F401 - used in helpers
from planner.errors import InfeasibleError
from planner.placement.llamacpp import LayerCost, LlamaCppProblem, solve

ARGS = json.loads((ROOT / "tests" / "data" / "llamacpp_server_args.json").read_text())


def test_ngl_and_tensor_split_follow_llama_cpp():
    assert slot_devices(4, 1, [1.0]) == [-1, -1, -1, -1, 0]  # -ngl 1: only the output layer
    assert slot_devices(4, 4, [1.0]) == [-1, 0, 0, 0, 0]  # -ngl n_layer leaves blk.0 on the CPU
    assert slot_devices(4, 99, [3.0, 1.0]) == [0, 0, 0, 0, 1]  # -ts 3,1: ceil(0.75 * 5) slots on the first
    assert slot_devices(7, -1, [2.0, 0.0, 6.0]) == [0, 0, 2, 2, 2, 2, 2, 2]  # a zero share gets nothing
    for counts in [(1, 2, 3), (5, 1, 7), (30, 31, 20), (1, 80)]:  # layer counts as -ts reproduce themselves
        devices = slot_devices(sum(counts) - 1, sum(counts), [float(c) for c in counts])
        assert [devices.count(g) for g in range(len(counts))] == list(counts)


def test_cpu_moe_overrides_match_llama_cpp_regex():
    rules = parse_overrides("--n-cpu-moe", "2")
    import re

    hit = [n for n in ("blk.0.ffn_up_exps.weight", "blk.1.ffn_gate_up_exps.weight", "blk.10.ffn_down_exps.weight",
                       "blk.1.ffn_up_shexp.weight", "blk.1.ffn_gate_inp.weight") if any(re.search(p, n) for p, _ in rules)]
    assert hit == ["blk.0.ffn_up_exps.weight", "blk.1.ffn_gate_up_exps.weight"]


def _problem(draw_layers, caps, cpu_cap, fixed, pipeline=0, cpu_compute=0):
    return LlamaCppProblem(layers=tuple(draw_layers), gpu_capacity=tuple(caps), gpu_fixed=fixed, gpu_fixed_output=fixed + 5,
                           op_offload_bytes=3, cpu_capacity=cpu_cap, cpu_fixed=4, pipeline_bytes=pipeline,
                           cpu_layers_compute=cpu_compute, cpu_output_compute=2)


def _brute(p: LlamaCppProblem):
    """Best (host read, worst load permille) over every split llama.cpp can express."""
    n, gpus = len(p.layers), len(p.gpu_capacity)
    best = None
    for s in range(n + 1):
        for counts in itertools.product(range(n - s + 1), repeat=gpus):
            if sum(counts) != n - s:
                continue
            slots = [-1] * s + [g for g, c in enumerate(counts) for _ in range(c)]
            expert_layers = [i for i in range(n) if p.layers[i].expert_gpu_bytes and slots[i] >= 0]
            for k in range(len(expert_layers) + 1):
                for moved in itertools.combinations(expert_layers, k):
                    value = _evaluate(p, slots, set(moved))
                    if value is not None and (best is None or value < best):
                        best = value
    return best


def _evaluate(p, slots, moved):
    """llama.cpp's rules read from its source, written out plainly: the op-offload copy on backend 0
    (the first GPU the command names), four input copies per GPU when it pipelines (every slot on a
    GPU, two GPUs or more, no expert override), the CPU's compute buffer when it runs layers."""
    gpus = len(p.gpu_capacity)
    loads = [0] * gpus
    cpu_weights = any(d == -1 for d in slots) or bool(moved)
    used = sorted({d for d in slots if d >= 0})
    pipelined = -1 not in slots and len(used) >= 2 and not moved
    for g in used:
        mine = [i for i, d in enumerate(slots) if d == g]
        load = sum(p.layers[i].gpu_bytes - (p.layers[i].expert_gpu_bytes if i in moved else 0) for i in mine)
        load += p.gpu_fixed_output if slots[-1] == g else p.gpu_fixed
        load += p.op_offload_bytes if g == used[0] and cpu_weights else 0
        load += p.pipeline_bytes if pipelined else 0
        if load > p.gpu_capacity[g]:
            return None
        loads[g] = load
    cpu = p.cpu_fixed + sum(p.layers[i].cpu_bytes for i, d in enumerate(slots) if d == -1)
    cpu += sum(p.layers[i].expert_cpu_bytes for i in moved)
    cpu += (p.cpu_layers_compute if slots[0] == -1 else 0) + (p.cpu_output_compute if slots[-1] == -1 else 0)
    if p.cpu_capacity is not None and cpu > p.cpu_capacity:
        return None
    read = sum(p.layers[i].read_bytes for i, d in enumerate(slots) if d == -1)
    read += sum(p.layers[i].expert_read_bytes for i in moved)
    worst = max((-(-loads[g] * 1000 // p.gpu_capacity[g]) for g in range(gpus)), default=0)
    return read, worst


@st.composite
def problems(draw):
    n = draw(st.integers(2, 5))
    layers = []
    for i in range(n):
        size = draw(st.integers(5, 40))
        experts = draw(st.integers(0, size - 1)) if i < n - 1 and draw(st.booleans()) else 0
        layers.append(LayerCost(size, size - 1, experts, experts, size // 2 + 1, max(1, experts // 4) if experts else 0))
    gpus = draw(st.integers(1, 3))
    caps = [draw(st.integers(10, 120)) for _ in range(gpus)]
    cpu = draw(st.one_of(st.none(), st.integers(4, 200)))
    return _problem(layers, caps, cpu, draw(st.integers(0, 8)), draw(st.integers(0, 12)), draw(st.integers(0, 10)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_split_is_the_brute_force_optimum(p):
    best = _brute(p)
    try:
        split = solve(p)
    except InfeasibleError:
        assert best is None
        return
    assert best is not None and split.proven
    slots = [-1] * split.cpu_layers + [g for g, c in enumerate(split.gpu_layers) for _ in range(c)]
    value = _evaluate(p, slots, set(split.experts_on_cpu))
    assert value is not None, "the solver's split breaks a capacity"
    assert value[0] == best[0]  # least host reads, proven
    assert value[1] <= best[1] + 1  # then the most even load (permille, rounded)


@pytest.fixture(scope="module")
def moe_file(tmp_path_factory):
    return write_model(tmp_path_factory.mktemp("split") / "moe.gguf", n_layer=6, n_embd=512, n_head=8, n_head_kv=4,
                       n_ff=1024, vocab=32000, experts=16, experts_used=2, tied=True)[0]


@pytest.mark.parametrize("gpus", [("60MiB", "100MiB"), ("120MiB", "100MiB"), ("30MiB", "200MiB", "90MiB")])
def test_printed_flags_exist_in_llama_cpp(moe_file, gpus):
    args = ["plan", str(moe_file), "--cpu", "1GiB", "--reserve", "0", "--prompt-tokens", "4096", "--json"]
    for g in gpus:
        args += ["--gpu", g]
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    argv = doc["llama_server"]
    assert argv[0] == "llama-server"
    flags = [a for a in argv[1:] if a.startswith("-") and not a.lstrip("-").isdigit()]
    assert flags and all(f in ARGS["args"] for f in flags), [f for f in flags if f not in ARGS["args"]]
    for flag, allowed in ARGS["values"].items():
        if flag in argv:
            assert argv[argv.index(flag) + 1] in allowed
    assert "--fit" in argv and argv[argv.index("--fit") + 1] == "off"  # the split is given
    _replayed_bytes_match_the_report(moe_file, argv, doc)


def _replayed_bytes_match_the_report(path, argv, doc):
    """Place every tensor where llama.cpp would by the printed flags alone, and sum its CUDA bytes and
    its layer's KV per GPU: the report's weights and KV per GPU are exactly those sums."""
    from planner.answers.llamacpp import context_of
    from planner.costs.llamacpp import gpu_tensor_bytes, kv_bytes
    from planner.engines.llamacpp_rules import override_buffer, parse_overrides
    from planner.model.gguf import load_gguf
    from planner.workload import Workload

    model = load_gguf(str(path))
    value = {argv[i]: argv[i + 1] for i in range(1, len(argv) - 1) if argv[i].startswith("-")}
    gpus = [d for d in doc["devices"] if d["device"].startswith("GPU")]
    names = value.get("-dev", ",".join(f"CUDA{g}" for g in range(len(gpus)))).split(",")
    order = [int(n.removeprefix("CUDA")) for n in names] if names != ["none"] else []
    shares = [float(x) for x in value["-ts"].split(",")] if "-ts" in value else [1.0] * max(1, len(order))
    slots = [order[d] if d >= 0 else -1 for d in slot_devices(model.n_layer, int(value["-ngl"]), shares)]
    overrides = parse_overrides("--n-cpu-moe", value["--n-cpu-moe"]) if "--n-cpu-moe" in value else []
    overrides += parse_overrides("-ot", value["-ot"]) if "-ot" in value else []
    ctx = context_of(model, Workload(prompt_tokens=int(value["-c"]), kv_dtype={"f16": "fp16"}.get(value["-ctk"], value["-ctk"])))
    kv = kv_bytes(model, ctx)
    weights, cache = [0] * len(gpus), [0] * len(gpus)
    for i, layer in enumerate(model.layers):
        if slots[i] >= 0:
            cache[slots[i]] += kv[i]
            weights[slots[i]] += sum(gpu_tensor_bytes(t) for t in layer.tensors if override_buffer(t.name, overrides) != "CPU")
    if slots[-1] >= 0:
        weights[slots[-1]] += sum(gpu_tensor_bytes(t) for t in model.output_tensors) + (
            gpu_tensor_bytes(model.embedding) if model.output_tied else 0)
    assert [d["weights_bytes"] for d in gpus] == weights
    assert [d["kv_bytes"] for d in gpus] == cache
    for d in gpus:
        assert d["total_bytes"] <= d["capacity_bytes"]


def test_infeasible_says_by_how_much(moe_file):
    r = run_cli("plan", str(moe_file), "--gpu", "20MiB", "--cpu", "50MiB", "--reserve", "0", "--prompt-tokens", "4096")
    assert r.returncode == 3, r.stderr
    assert "GiB short" in r.stderr or "no split satisfies" in r.stderr


def test_size_finds_the_fewest_gpus_per_type(tmp_path):
    path = write_model(tmp_path / "mid.gguf", n_layer=16, n_embd=4096, n_head=32, n_head_kv=8, n_ff=14336, vocab=32000)[0]
    r = run_cli("size", str(path), "--gpu-type", "RTX-4090", "--gpu-type", "L4", "--context", "524288", "--concurrency", "2",
                "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    counts = {row["gpu"]: row["count"] for row in doc["rows"]}
    assert all(c and c >= 3 for c in counts.values()), counts  # 64 GiB of KV at 2 x 512k tokens
    best = doc["best"]
    assert best["context"]["n_seq"] == 2 and best["context"]["n_ctx"] == 2 * 524288
    for d in best["devices"]:
        assert d["capacity_bytes"] is None or d["total_bytes"] <= d["capacity_bytes"]
    for gpu, count in counts.items():  # the fewest: one GPU less holds it in no split
        fewer = run_cli("plan", str(path), "--gpu", f"{count - 1}x{gpu}", "--batch", "2", "--prompt-tokens", "524288")
        assert fewer.returncode == 3, fewer.stdout
        same = run_cli("plan", str(path), "--gpu", f"{count}x{gpu}", "--batch", "2", "--prompt-tokens", "524288")
        assert same.returncode == 0, same.stderr


def test_whatif_sweeps_a_gguf_model(tmp_path, moe_file):
    spec = tmp_path / "sweep.yaml"
    spec.write_text(f"model: {moe_file}\nworkload: {{batch: 1}}\ninventory: {{gpus: [60MiB, 100MiB], cpu: 1GiB, reserve: 0}}\n"
                    "sweep:\n  workload.prompt_tokens: [1024, 16384]\n  workload.kv_dtype: [fp16, q8_0]\n")
    r = run_cli("whatif", str(spec), "--json", "-")
    assert r.returncode == 0, r.stderr
    points = json.loads(r.stdout)
    assert len(points) == 4 and all(p["results"]["fits"] for p in points)
    kv = {(p["axes"]["workload.prompt_tokens"], p["axes"]["workload.kv_dtype"]): p["results"]["kv_bytes"] for p in points}
    assert kv[(16384, "q8_0")] < kv[(16384, "fp16")] and kv[(1024, "fp16")] < kv[(16384, "fp16")]

"""Figures in the unit their size needs: a small model's table in MiB (not 0.00 GiB), every byte
column of a table in one unit, prose sizes scaled, and a decode speed for every plan with a workload."""

from __future__ import annotations

import json

from conftest import ROOT, run_cli

from planner.export.table import Column, Table, table_text


def test_a_table_reads_in_the_unit_its_figures_need():
    t = Table([Column("name", "name"), Column("weights_bytes", "weights", "bytes"), Column("kv_bytes", "KV", "bytes"),
               Column("capacity_bytes", "capacity", "bytes")])
    t.add(name="small", weights_bytes=3 * 2**20, kv_bytes=512 * 2**10, capacity_bytes=24 * 2**30)
    text = table_text(t)
    assert "weights MiB" in text and "KV MiB" in text and "capacity MiB" in text  # the loads set it, capacity follows
    assert "3.0" in text and "0.5" in text and "24576.0" in text
    t.add(name="big", weights_bytes=3 * 2**40, kv_bytes=0, capacity_bytes=0)
    assert "weights TiB" in table_text(t)
    assert t.records()[0]["weights_bytes"] == 3 * 2**20  # JSON and CSV keep raw bytes


def test_a_small_model_plan_reads_in_mib_and_says_so():
    r = run_cli("plan", str(ROOT / "examples" / "tiny-llama"), "--gpu", "RTX-4090", "--json")
    assert r.returncode == 0, r.stderr
    text = run_cli("plan", str(ROOT / "examples" / "tiny-llama"), "--gpu", "RTX-4090").stdout
    assert "weights MiB" in text and " 0.00 " not in text.split("weights MiB")[1].splitlines()[1]


def test_prose_sizes_scale():
    r = run_cli("plan", str(ROOT / "examples" / "tiny-llama"), "--gpu", "20MiB", "--cpu", "1GiB")
    assert r.returncode == 2
    assert "20.00 MiB" in r.stderr and "0.00 GiB" not in r.stderr


def test_every_plan_with_a_workload_has_a_decode_speed():
    on_gpus = json.loads(run_cli("plan", "Meta-Llama-3-8B", "--gpu", "RTX-4090", "--batch", "4", "--json").stdout)
    offload = json.loads(run_cli("plan", "Meta-Llama-3-8B", "--gpu", "RTX-4070-Ti", "--cpu", "64GiB", "--json").stdout)
    fast, slow = on_gpus["decode_tokens_per_s"], offload["decode_tokens_per_s"]
    assert fast and slow and slow < fast
    weights = sum(d["weights_bytes"] + d["kv_bytes"] for d in on_gpus["devices"] if d["kind"] == "gpu")
    assert abs(fast - 4 / (weights / 1008e9)) / fast < 1e-3  # the RTX 4090's 1,008 GB/s, four sequences a step
    assert slow <= 1 / offload["offload_seconds_per_pass"]  # never faster than the link moves the offloaded weights
    text = run_cli("plan", "Meta-Llama-3-8B", "--gpu", "RTX-4070-Ti", "--cpu", "64GiB").stdout
    assert "Decode: at most" in text


def test_explain_says_why_a_unit_is_where_it_is():
    from planner import api
    from planner.answers.explain import explain
    from planner.placement.loads import objective_values
    from planner.placement.verify import verify

    plan = api.plan("Meta-Llama-3-8B", gpus=["RTX-4070-Ti", "RTX-4060-Ti-16GB"], cpu="64GiB")
    for unit in ("lm_head", "model.layers.20", "model.layers.20.mlp"):
        e = explain(plan, unit)
        assert e.device == "GPU 1" and len(e.reasons) == len(plan.problem.devices) - 1
        for device, why in e.reasons:  # each reason is checked: a broken rule, or a worse objective, as said
            k = next(i for i, it in enumerate(plan.problem.items) if any(unit == n or unit.startswith(n + ".") for n in it.names))
            d = next(i for i, dev in enumerate(plan.problem.devices) if (f"GPU {dev.key}" if dev.kind == "gpu" else str(dev.key)) == device)
            moved = plan.assignment[:k] + (d,) + plan.assignment[k + 1:]
            if "breaks a rule" in why:
                assert verify(plan.problem, moved)
            else:
                assert "fits, but" in why and not verify(plan.problem, moved)
                assert tuple(objective_values(plan.problem, moved).values()) > tuple(objective_values(plan.problem, plan.assignment).values())
    r = run_cli("plan", "Meta-Llama-3-8B", "--gpu", "RTX-4070-Ti", "--gpu", "RTX-4060-Ti-16GB", "--cpu", "64GiB",
                "--explain", "lm_head", "--json")
    doc = json.loads(r.stdout)
    assert doc["explain"][0]["unit"] == "lm_head" and doc["explain"][0]["elsewhere"]
    bad = run_cli("plan", "Meta-Llama-3-8B", "--gpu", "RTX-4090", "--explain", "model.layerz")
    assert bad.returncode == 2 and "not a unit of this plan" in bad.stderr

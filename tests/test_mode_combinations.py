"""Modes and commands where they meet: every objective works in every mode, one verdict decides
the exit status, and an answer states what the hardware around the GPUs must hold."""

from __future__ import annotations

import json

from conftest import ROOT, run_cli

from planner import profile
from planner.costs.training import TrainingSetup, training_cost


def test_training_sizing_ranks_by_total_cost():
    """tco in training mode: the purchase plus the GPUs' power over the horizon (3 years at 0.13
    USD/kWh, 8,760 hours a year by default); an H100 (25,000 USD, 700 W) costs 25,000 + 0.7 x 0.13 x 8,760 x 3 = 27,391."""
    r = run_cli("size", "Llama-3.2-1B", "--mode", "training", "--objective", "tco", "--gpu-type", "H100", "--json")
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["best"]
    assert best["type"] == "H100-SXM" and round(best["tco_usd"]) == round(25_000 + 0.7 * 0.13 * 8760 * 3)


def test_full_fine_tuning_of_gpt2_needs_no_lora_targets():
    r = run_cli("estimate", "gpt2", "--mode", "training", "--json")
    assert r.returncode == 0, r.stderr


def test_lora_defaults_to_every_projection_of_a_layer():
    """GPT-2's Conv1D projections (c_attn, c_proj, c_fc, c_proj) are its layers' Linears: rank 8
    adapts 8 x ((768 + 2304) + (768 + 768) + (768 + 3072) + (3072 + 768)) = 98,304 parameters a
    layer, 12 layers: 1,179,648."""
    prof = profile("gpt2")
    cost = training_cost(prof, TrainingSetup(lora_rank=8))
    assert cost.trainable_parameters == 12 * 8 * ((768 + 2304) + (768 + 768) + (768 + 3072) + (3072 + 768)) == 1_179_648


def test_a_cluster_that_holds_the_model_but_not_the_load_does_not_fit(tmp_path):
    """One node of 4 x A100-80GB holds Llama-3.1-70B, but its KV cache not 64 sequences of 32k:
    exit 3, status infeasible and fits false, the same verdict the what-if runner gives."""
    cluster = tmp_path / "one.yaml"
    cluster.write_text("nodes:\n  - {name: box, gpus: 4xA100-80GB}\n")
    r = run_cli("size", "Llama-3.1-70B", "--cluster", str(cluster), "--context", "32768", "--concurrency", "64", "--json")
    assert r.returncode == 3
    doc = json.loads(r.stdout)
    assert doc["status"] == "infeasible" and doc["fits"] is False and "2,097,152 needed" in doc["reason"]
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text(f"task: size\nmodel: Llama-3.1-70B\nsize: {{cluster: {cluster}, context: 32768}}\n"
                     "sweep: {size.concurrency: [4, 64]}\n")
    r = run_cli("whatif", str(sweep), "--json", str(tmp_path / "rows.json"))
    rows = json.loads((tmp_path / "rows.json").read_text())
    verdicts = {row["axes"]["size.concurrency"]: row["results"]["fits"] for row in rows}
    assert verdicts == {4: True, 64: False}


def test_offloaded_training_states_name_the_host_memory():
    """ZeRO-3 with parameters and optimizer on the CPU fits one A100-80GB only beside about 1.2 TiB
    of host RAM: every answer that names the GPUs names it."""
    args = ["Llama-3.1-70B", "--mode", "training", "--zero", "3", "--offload-optimizer", "--offload-params"]
    r = run_cli("size", *args, "--gpu-type", "A100-80GB", "--json")
    assert r.returncode == 0, r.stderr
    best = json.loads(r.stdout)["best"]
    assert best["cpu_bytes_per_node"] > 1024**4
    r = run_cli("estimate", *args, "--gpu", "A100-80GB")
    assert "1 x A100-80GB" in r.stdout and "of CPU RAM for the offloaded states" in r.stdout


def test_a_rental_beside_a_purchase_names_its_own_layout():
    """Instances of one L40S each cannot hold a tensor-parallel pair: the rental set against a
    purchase runs its own layout, pipeline stages across instances, and says so."""
    r = run_cli("size", "Llama-3.1-70B", "--context", "8192", "--concurrency", "8", "--gpu-type", "L40S", "--quant", "int4")
    line = next(x for x in r.stdout.splitlines() if x.startswith("Renting instead"))
    assert "g6e.xlarge (tp 1 x pp " in line
    assert (ROOT / "catalogs" / "hosts.yaml").read_text().count("g6e.xlarge") >= 1

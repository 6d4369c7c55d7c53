"""What-if sweeps: every example runs, outputs and pictures are valid, a failing point stays in
its row, and bad files give one line with the file, the line and the field (exit 2)."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET

import pytest
from conftest import ROOT, assert_input_error, run_cli

from planner.whatif.run import run
from planner.whatif.schema import load_whatif

EXAMPLES = sorted((ROOT / "examples" / "whatif").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_run(path):
    points = load_whatif(path)
    rows = run(points, jobs=1)
    assert len(rows) == len(points) >= 2
    assert all(r["results"]["status"] != "error" for r in rows), [r["results"].get("reason") for r in rows]
    assert any(r["results"].get("fits") for r in rows)


def test_seed_answers_in_the_examples():
    rows = run(load_whatif(ROOT / "examples" / "whatif" / "llava-video-72b-gpus.yaml"), jobs=1)
    gpus = {(r["axes"]["workload.quant"], r["axes"]["size.gpu_types"][0]): r["results"]["gpus_used"] for r in rows}
    assert gpus[("none", "H100")] == 2 and gpus[("int8", "RTX4090")] == 4 and gpus[("awq", "A100-80GB")] == 1
    rows = run(load_whatif(ROOT / "examples" / "whatif" / "70b-fp32-vs-bf16.yaml"), jobs=1)
    fp32, bf16 = (r["results"]["weights_bytes"] for r in rows)
    # every parameter doubles; the two 64-entry rotary buffers are fp32 in both (4 bytes each)
    assert fp32 - bf16 == 2 * 70_553_706_496 and fp32 == 4 * 70_553_706_496 + 2 * 64 * 4


def test_outputs_and_plots(tmp_path):
    example = ROOT / "examples" / "whatif" / "llama3-8b-24gb.yaml"
    out = {k: tmp_path / f"rows.{k}" for k in ("csv", "json", "md")}
    r = run_cli("whatif", str(example), "--csv", str(out["csv"]), "--json", str(out["json"]), "--markdown", str(out["md"]),
                "--plot", str(tmp_path / "plots"), "--jobs", "2")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""  # no progress bar when not on a terminal
    rows = json.loads(out["json"].read_text())
    assert len(rows) == 9 and rows[0]["axes"] == {"workload.quant": "none", "workload.prompt_tokens": 2048}
    table = list(csv.reader(io.StringIO(out["csv"].read_text())))
    assert table[0][:3] == ["point", "workload.quant", "workload.prompt_tokens"] and len(table) == 10
    assert int(table[1][table[0].index("weights_bytes")]) == rows[0]["results"]["weights_bytes"]
    assert out["md"].read_text().count("\n") == 11
    pictures = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pictures == ["cost.png", "cost.svg", "fits.png", "fits.svg", "memory_by_category.png", "memory_by_category.svg",
                        "plan_devices.png", "plan_devices.svg"]
    for p in (tmp_path / "plots").iterdir():
        data = p.read_bytes()
        assert len(data) > 5000
        if p.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert ET.fromstring(data).tag.endswith("svg")


def test_charts_follow_the_sweep_not_a_fixed_grid(tmp_path):
    """gpt-oss-20b swept over batch only: the charts draw the swept batches and nothing else (the old
    memory-vs-context chart drew precisions and contexts nobody asked for, some the engine refuses)."""
    path = tmp_path / "w.yaml"
    path.write_text("model: gpt-oss-20b\ninventory: {gpus: [H100]}\nsweep:\n  workload.batch: [1, 2]\n")
    r = run_cli("whatif", str(path), "--plot", str(tmp_path / "plots"))
    assert r.returncode == 0, r.stderr
    svg = (tmp_path / "plots" / "fits.svg").read_text()
    assert "workload.batch" in svg and "nf4" not in svg and "131072" not in svg


def test_small_multiples_are_the_rows_and_fit_a_screen(tmp_path):
    """A 4-axis sweep (quant x context x GPUs x KV dtype): x is the context, colour the GPUs (the
    first of the axes with fewest values), one panel per quant x KV dtype; every plotted value is its row's, a gap exactly where the row does not
    fit; a row of panels stays within a 1,920-pixel screen."""
    from planner.answers.sweep_panels import split_axes, sweep_panels
    from planner.answers.sweep_series import value_of

    path = tmp_path / "w.yaml"
    path.write_text("model: Meta-Llama-3-8B\ninventory: {gpus: [RTX-4090], cpu: 64GiB}\nsweep:\n"
                    "  workload.quant: [none, nf4, int8]\n  workload.prompt_tokens: [2048, 32768, 131072]\n"
                    "  inventory.gpus: [[RTX-4090], [2xRTX-3090]]\n  workload.kv_dtype: [bf16, fp8]\n")
    r = run_cli("whatif", str(path), "--json", str(tmp_path / "rows.json"), "--plot", str(tmp_path / "plots"))
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "rows.json").read_text())
    x, colour, outer = split_axes(rows)
    assert (x, colour, outer) == ("workload.prompt_tokens", "inventory.gpus", ("workload.quant", "workload.kv_dtype"))
    fits = sweep_panels("plan", rows)[0]
    assert len(fits.panel_labels) == 6 and fits.colours == ("RTX-4090", "2xRTX-3090")
    for row in rows:
        p = fits.panel_labels.index(f"quant={row['axes']['workload.quant']}, kv_dtype={row['axes']['workload.kv_dtype']}")
        c = fits.colours.index("+".join(row["axes"]["inventory.gpus"]))
        value = fits.values[p][c][fits.x_values.index(row["axes"]["workload.prompt_tokens"])]
        if row["results"].get("fits") is False:
            assert value is None
        else:
            assert value == value_of(row["results"], "memory_bytes") / fits.scale
    import matplotlib.image

    for name in ("fits.png", "memory_by_category.png"):
        height, width = matplotlib.image.imread(tmp_path / "plots" / name).shape[:2]
        assert width <= 1920, (name, width)


def test_parallel_equals_sequential():
    points = load_whatif(ROOT / "examples" / "whatif" / "homelab.yaml")
    assert run(points, jobs=2) == run(points, jobs=1)


def test_a_failing_point_stays_in_its_row(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("model: Meta-Llama-3-8B\ninventory: {gpus: [RTX4090]}\nsweep:\n  inventory.gpus: [[1GiB], [RTX4090]]\n"
                    "  pins: [{lm_head: 3}, {}]\n")
    rows = run(load_whatif(path), jobs=1)
    by = {(json.dumps(r["axes"]["inventory.gpus"]), json.dumps(r["axes"]["pins"])): r["results"] for r in rows}
    assert by[('["1GiB"]', "{}")]["fits"] is False and "short" in by[('["1GiB"]', "{}")]["reason"]
    assert by[('["RTX4090"]', '{"lm_head": 3}')]["status"] == "error" and "pin" in by[('["RTX4090"]', '{"lm_head": 3}')]["reason"]
    assert by[('["RTX4090"]', "{}")]["fits"] is True


BAD = [
    ("syntax", "model: x\nsweep: [\n", "line", "not valid YAML"),
    ("type", "model: Meta-Llama-3-8B\nworkload:\n  batch: many\n", "line 3", "workload.batch"),
    ("unknown key", "model: Meta-Llama-3-8B\nworkloud: {batch: 2}\n", "line 2", "did you mean workload"),
    ("nested key", "model: Meta-Llama-3-8B\nworkload: {bach: 2}\n", "line 2", "did you mean batch"),
    ("gpu", "model: Meta-Llama-3-8B\nsweep:\n  inventory.gpus: [[RTX4090], [H1000]]\n", "line 3", "did you mean"),
    ("model", "model: Llama-9-8B\ninventory: {gpus: [RTX4090]}\n", "model", "did you mean"),
    ("negative", "model: Meta-Llama-3-8B\ninventory: {gpus: [RTX4090], cpu: -5GiB}\n", "cpu", "positive"),
    ("zero", "model: Meta-Llama-3-8B\ninventory: {gpus: [RTX4090]}\nworkload: {batch: 0}\n", "line 3", "greater than"),
    ("empty axis", "model: Meta-Llama-3-8B\ninventory: {gpus: [RTX4090]}\nsweep:\n  workload.batch: []\n", "line 4", "no values"),
    ("too big", "model: Meta-Llama-3-8B\ninventory: {gpus: [RTX4090]}\nsweep:\n  workload.batch: [" + ",".join(map(str, range(1, 201)))
     + "]\n  workload.prompt_tokens: [" + ",".join(map(str, range(1, 201))) + "]\n", "line 3", "limit"),
    ("axis path", "model: Meta-Llama-3-8B\ninventory: {gpus: [RTX4090]}\nsweep:\n  workload.bach: [1, 2]\n", "line 4",
     "did you mean workload.batch"),
    ("exclude all", "model: Meta-Llama-3-8B\ninventory: {gpus: [RTX4090]}\nsweep:\n  workload.batch: [1]\nexclude:\n"
     "  - {workload.batch: 1}\n", "exclude", "every point"),
    ("not a mapping", "- a\n- b\n", "mapping", "sweep"),
    ("no devices", "model: Meta-Llama-3-8B\n", "inventory", "no devices"),
]


@pytest.mark.parametrize("name, text, where, what", BAD, ids=[b[0] for b in BAD])
def test_bad_files(tmp_path, name, text, where, what):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert_input_error(run_cli("whatif", str(path)), str(path), where, what)


def test_schema_command():
    r = run_cli("schema")
    schema = json.loads(r.stdout)
    assert {"model", "workload", "inventory", "sweep", "include", "exclude", "task"} <= set(schema["properties"])


def test_prices_replace_the_catalogs():
    from planner.catalog import find_gpu
    from planner.hardware.prices import parse_prices, priced

    prices = parse_prices(["H100=0.5/h", "H100-SXM=20000", "RTX4090=1,600".replace(",", "")])
    assert prices["H100-SXM"] == (20000.0, 0.5) and prices["RTX-4090"] == (1600.0, None)
    assert priced(find_gpu("H100"), prices).price_usd_per_hour == 0.5
    r = run_cli("size", "Llama-3.1-70B", "--context", "8192", "--concurrency", "4", "--gpu-type", "H100", "--gpu-type",
                "A100-80GB", "--objective", "hourly", "--price", "H100=0.5/h", "--json")
    doc = json.loads(r.stdout)
    assert doc["replicas"][0]["type"] == "H100-SXM"
    assert_input_error(run_cli("size", "Llama-3.1-70B", "--price", "H100=abc"), "price")


def test_whatif_over_a_cluster_of_machines():
    rows = run(load_whatif(ROOT / "examples" / "whatif" / "cluster-context.yaml"), jobs=1)
    fits = {(r["axes"]["model"], r["axes"]["size.context"]): r["results"]["fits"] for r in rows}
    assert fits[("Llama-3.1-70B", 32768)] is True
    assert fits[("Llama-3.1-70B", 131072)] is False  # 2.1M tokens needed, the cluster holds about 1.9M


def test_training_sweep_and_sizing_modes(tmp_path):
    rows = run(load_whatif(ROOT / "examples" / "whatif" / "13b-training.yaml"), jobs=1)
    by = {(r["axes"]["training.lora_rank"], r["axes"]["training.qlora"], r["axes"]["training.zero"], r["axes"]["training.gpus"]):
          r["results"] for r in rows}
    assert by[(0, False, 0, 1)]["fits"] is False and by[(0, False, 3, 8)]["fits"] is True  # full fine-tuning needs ZeRO-3 x 8
    assert by[(16, True, 0, 1)]["peak_bytes"] < by[(16, False, 0, 1)]["peak_bytes"] < by[(0, False, 3, 8)]["peak_bytes"]
    assert by[(16, False, 3, 8)]["weights_bytes"] < by[(16, False, 0, 8)]["weights_bytes"] / 4  # ZeRO-3 splits the frozen base
    r = run_cli("size", "Meta-Llama-3-8B", "--mode", "training", "--zero", "3", "--checkpointing", "full", "--objective",
                "gpus", "--gpu-type", "RTX4090", "--gpu-type", "A100-80GB", "--json")
    doc = json.loads(r.stdout)
    assert doc["status"] == "optimal" and doc["gpus"][0]["type"] == "A100-80GB"
    assert {a["type"] for a in doc["alternatives"]} == {"A100-80GB", "RTX-4090"}
    r = run_cli("size", "Meta-Llama-3-8B", "--mode", "compression", "--gpu-type", "T4", "--gpu-type", "H100", "--json")
    assert json.loads(r.stdout)["gpus"][0]["type"] == "T4"
    scenario = tmp_path / "t.yaml"
    scenario.write_text("model: Meta-Llama-3-8B\nworkload: {mode: training}\ninventory: {gpus: [H100]}\n")
    assert_input_error(run_cli("plan", "--file", str(scenario)), "workload.mode")


def test_fail_on_misfit_exits_3_and_still_prints_every_row():
    path = str(ROOT / "examples" / "whatif" / "cluster-context.yaml")
    strict = run_cli("whatif", path, "--fail-on-misfit")
    assert strict.returncode == 3
    assert "3 of 6 points do not fit or failed (first: point 1)" in strict.stderr
    assert strict.stdout == run_cli("whatif", path).stdout
    assert run_cli("whatif", path).returncode == 0


def test_sweep_chart_data_is_every_row():
    """3 GPU types x 2 precisions: two series (one per precision) of three bars (one per GPU
    type), each bar the row's price; a point that does not fit is a gap, not a zero price."""
    from planner.answers.sweep_series import sweep_series

    rows = [{"point": k, "axes": {"size.gpu_types": g, "workload.quant": q},
             "results": {"fits": fits, "price_usd": price}}
            for k, (g, q, fits, price) in enumerate([("H100", "none", True, 60000), ("A100-80GB", "none", True, 40000),
                                                     ("L40S", "none", False, None), ("H100", "fp8", True, 30000),
                                                     ("A100-80GB", "fp8", True, 20000), ("L40S", "fp8", True, 18000)])]
    series = sweep_series("size", rows)
    assert series.x_label == "size.gpu_types" and series.x_values == ("H100", "A100-80GB", "L40S")
    assert series.lines == {"workload.quant=none": (60000, 40000, None), "workload.quant=fp8": (30000, 20000, 18000)}
    assert series.y_label == "USD to buy"


def test_sweep_chart_follows_a_numeric_axis_and_draws_every_point(tmp_path):
    from planner.answers.sweep_series import sweep_series, value_of

    example = ROOT / "examples" / "whatif" / "long-context-kv.yaml"  # prompt tokens x KV dtype
    r = run_cli("whatif", str(example), "--json", str(tmp_path / "rows.json"))
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "rows.json").read_text())
    series = sweep_series(load_whatif(example)[0].scenario.task, rows)
    assert series.x_label == "workload.prompt_tokens" and len(series.lines) == 2
    assert series.lines["workload.kv_dtype=fp8"][0] < series.lines["workload.kv_dtype=bf16"][0]  # the sweep shows
    plotted = sum(v is not None for values in series.lines.values() for v in values)
    assert plotted == sum(1 for row in rows if row["results"].get("fits") is not False)
    assert len(series.x_values) * len(series.lines) >= len(rows)
    for row in rows:
        others = ", ".join(f"{k}={v}" for k, v in row["axes"].items() if k != series.x_label)
        x = series.x_values.index(row["axes"][series.x_label])
        value = value_of(row["results"], series.key) if row["results"].get("fits") is not False else None
        assert series.lines[others][x] == (None if value is None else value / series.scale)


def test_exclude_drops_and_include_adds_points(tmp_path):
    """A 2 x 2 sweep of batch and prompt length with one combination excluded and one row
    included: the points are the product in order less the excluded one, then the included
    one, each with its own values; the included point runs like any other and its row says
    which values it ran with."""
    path = tmp_path / "w.yaml"
    path.write_text("model: Llama-3.2-1B\ninventory: {gpus: [RTX4090]}\nsweep:\n  workload.batch: [1, 2]\n"
                    "  workload.prompt_tokens: [512, 1024]\nexclude:\n  - {workload.batch: 2, workload.prompt_tokens: 1024}\n"
                    "include:\n  - {workload.batch: 8, workload.prompt_tokens: 256}\n")
    points = load_whatif(path)
    assert [(p.scenario.workload.batch, p.scenario.workload.prompt_tokens) for p in points] == [
        (1, 512), (1, 1024), (2, 512), (8, 256)]
    rows = run(points[-1:], jobs=1)
    assert rows[0]["results"]["status"] != "error", rows[0]["results"]
    assert rows[0]["axes"] == {"workload.batch": 8, "workload.prompt_tokens": 256}


def test_points_the_time_limit_left_undecided_are_counted_apart():
    """A point whose plan was neither found nor ruled out within its time limit is undecided
    (fits None, status unknown), never 'does not fit'; the table counts such points apart."""
    from planner.export.rows import to_table

    rows = [{"point": 0, "axes": {}, "results": {"status": "optimal", "fits": True}},
            {"point": 1, "axes": {}, "results": {"status": "infeasible", "fits": False}},
            {"point": 2, "axes": {}, "results": {"status": "unknown", "fits": None}}]
    assert "3 points: 1 fit, 1 do not, 1 undecided within the time limit, 0 errors" in to_table("plan", rows)


def test_a_long_context_point_says_why_it_does_not_fit():
    """The issue's point (70B, 4 x 32k + 512 on 8 L40S and 512 GiB): decided within the default
    limit, with the proven shortfall and the execution GPU's bound as the reason."""
    from planner.scenario import InventorySpec
    from planner.whatif.run import _result
    from planner.whatif.schema import WhatIf

    sc = WhatIf(model="Llama-3.1-70B", workload={"batch": 4, "prompt_tokens": 32768, "new_tokens": 512},
                inventory=InventorySpec(gpus=["8xL40S"], cpu="512GiB"))
    row = _result(sc)
    assert row["status"] == "infeasible" and row["fits"] is False
    assert row["reason"].startswith("3.61 GiB short with units kept whole; the execution GPU needs at least 46.")


def test_a_cluster_point_is_the_cli_answer():
    """One question, one answer: a what-if point with a cluster file and ``size --cluster`` on the
    same input go through the same entry point and give the same pipeline."""
    rows = run(load_whatif(ROOT / "examples" / "whatif" / "cluster-context.yaml"), jobs=1)
    row = next(r["results"] for r in rows if r["axes"] == {"model": "Qwen2.5-72B", "size.context": 32768})
    r = run_cli("size", "Qwen2.5-72B", "--dtype", "bf16", "--cluster", str(ROOT / "examples" / "cluster-mixed.yaml"),
                "--context", "32768", "--concurrency", "16", "--json")
    best = json.loads(r.stdout)["best"]
    assert r.returncode == 0 and row["fits"] is True
    assert row["kv_tokens"] == best["kv_cache_tokens"] and row["gpus_used"] == sum(len(s["gpus"]) for s in best["stages"])


def test_training_and_compression_sizing_rank_by_every_objective():
    """``size --mode training`` takes every sizing objective, tco included (once an internal error)."""
    import planner
    from planner.objectives import SIZE_OBJECTIVES

    for objective in SIZE_OBJECTIVES:
        answer = planner.size("Llama-2-7b-hf", mode="training", objective=objective, zero=3, gpu_types=["H100", "A100-80GB"])
        assert answer.fits and answer.objective == objective
    tco = planner.size("Llama-2-7b-hf", mode="training", objective="tco", zero=3, gpu_types=["H100", "A100-80GB"])
    assert [o.tco_usd for o in tco.options] == sorted(o.tco_usd for o in tco.options)


def test_training_points_without_a_gpu_and_sized_training_at_its_sequence(tmp_path):
    """A training sweep over an inventory of CPU RAM only measures (no GPU to fit against); a size
    point in training mode sizes at the file's training.seq_len, as --seq-len does."""
    path = tmp_path / "t.yaml"
    path.write_text("model: Llama-2-7b-hf\ntask: training\ninventory: {max_memory: {cpu: 64GiB}}\n"
                    "sweep: {training.zero: [0, 3]}\n")
    assert [r["results"]["status"] for r in run(load_whatif(path), jobs=1)] == ["ok", "ok"]
    path.write_text("model: Llama-2-7b-hf\ntask: size\nworkload: {mode: training}\ntraining: {seq_len: 8192, zero: 3}\n"
                    "size: {gpu_types: [H100]}\nsweep: {training.gpus: [8]}\n")
    row = run(load_whatif(path), jobs=1)[0]["results"]
    cli = json.loads(run_cli("size", "Llama-2-7b-hf", "--mode", "training", "--seq-len", "8192", "--zero", "3",
                             "--gpu-type", "H100", "--num-gpus", "8", "--json").stdout)
    assert row["peak_bytes"] == cli["best"]["gpu_peak_bytes"] and row["gpus_used"] == cli["best"]["count"]

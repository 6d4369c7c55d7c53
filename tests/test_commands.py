"""The command layer is what the CLI prints: each command's typed result, formatted, is the CLI's
output byte for byte (the CLI adds nothing of its own), and the what-if runner's row agrees with it."""

from __future__ import annotations

import json
import subprocess
import sys

from planner.answers.answer import answer_plan
from planner.answers.estimate import estimate
from planner.answers.inputs import candidate_types, model_spec
from planner.answers.size import size_serving, size_workload
from planner.costs.profile import profile
from planner.costs.training import TrainingSetup
from planner.export.plan_report import plan_table
from planner.export.report import estimate_table
from planner.requests import PlanRequest
from planner.scenario import InventorySpec
from planner.workload import Workload


def _cli(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, check=False).stdout


def test_estimate_command_is_what_the_cli_prints():
    prof = profile(model_spec("Llama-3.2-1B"), Workload(batch=2, prompt_tokens=1024))
    text = estimate_table(estimate(prof, candidate_types(["RTX4090"], ())))
    assert _cli("estimate", "Llama-3.2-1B", "--batch", "2", "--prompt-tokens", "1024", "--gpu", "RTX4090") == text + "\n"


def test_plan_command_is_what_the_cli_prints():
    result = answer_plan(PlanRequest(model="Llama-3.2-1B", inventory=InventorySpec(gpus=["2xRTX4090"], cpu="64GiB")))
    assert result.status == "optimal"
    assert _cli("plan", "Llama-3.2-1B", "--gpu", "2xRTX4090", "--cpu", "64GiB") == plan_table(result) + "\n"


def test_size_serving_and_cli_json_agree():
    prof = profile(model_spec("Llama-3.1-70B"), Workload(engine="vllm", batch=4, prompt_tokens=8192, new_tokens=0))
    answer = size_serving("Llama-3.1-70B", prof, candidate_types(["H100", "A100-80GB"], ()), 8192, 4)
    doc = json.loads(_cli("size", "Llama-3.1-70B", "--context", "8192", "--concurrency", "4", "--gpu-type", "H100",
                          "--gpu-type", "A100-80GB", "--json"))
    assert doc["status"] == answer.sizing.status
    assert doc["price_usd"] == answer.bill.purchase_usd == sum(
        n * (c.hosts * c.offer.host_price_usd + c.gpus * c.gpu.price_usd) for c, n in answer.sizing.choice)
    assert sum(x["total_usd"] for x in doc["bill_of_materials"]["lines"]) == doc["price_usd"]
    assert [r["type"] for r in doc["replicas"]] == [c.gpu.name for c, _ in answer.sizing.choice]


def test_workload_sizing_ranks_by_the_objective():
    """size --mode training: the options come back cheapest first, each at least as cheap as the next."""
    prof = profile(model_spec("Llama-3.2-1B"), Workload(mode="training", batch=1))
    types = candidate_types(["RTX4090", "A100-80GB", "H100"], ())
    answer = size_workload("training", "Llama-3.2-1B", prof, TrainingSetup(seq_len=2048), types, "price")
    prices = [o.price_usd for o in answer.options]
    assert prices and prices == sorted(prices)
    by_gpus = size_workload("training", "Llama-3.2-1B", prof, TrainingSetup(seq_len=2048), types, "gpus")
    assert [o.count for o in by_gpus.options] == sorted(o.count for o in by_gpus.options)

"""Plans against the real libraries: the greedy reproduces accelerate's device_map="auto", every
emitted device_map passes accelerate's own checks, and plans load for real (CPU + disk) with
from_pretrained and dispatch_model and give the same logits as the model loaded whole."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, catalog_config
from hf_reference import build_meta

from planner import profile
from planner.hardware.inventory import build_inventory
from planner.placement.greedy import accelerate_greedy
from planner.placement.plan import make_plan
from planner.placement.problem import build_problem

pytestmark = pytest.mark.hf
GiB = 2**30
BUDGETS = {
    "1x24+cpu64": {0: 24 * GiB, "cpu": 64 * GiB},
    "2x24+cpu64": {0: 24 * GiB, 1: 24 * GiB, "cpu": 64 * GiB},
    "4x16+cpu64": {**{i: 16 * GiB for i in range(4)}, "cpu": 64 * GiB},
    "8x80": {i: 80 * GiB for i in range(8)},
    "24,12,40+cpu200": {0: 24 * GiB, 1: 12 * GiB, 2: 40 * GiB, "cpu": 200 * GiB},
}
MODELS = ["Meta-Llama-3-8B", "Mixtral-8x7B-v0.1", "Llama-3.2-1B", "Qwen2.5-VL-7B-Instruct", "opt-1.3b", "DeepSeek-R1"]


def unit_keys(device_map: dict, names: list[str]) -> list:
    return [device_map[max((k for k in device_map if k == "" or n == k or n.startswith(k + ".")), key=len)] for n in names]


@pytest.fixture(scope="module")
def meta_models(hf):
    return {name: build_meta(catalog_config(name)) for name in MODELS}


@pytest.mark.parametrize("name", MODELS)
def test_greedy_reproduces_accelerate_auto(hf, meta_models, name):
    _, accelerate, torch = hf
    from accelerate.utils import get_balanced_memory

    model = meta_models[name]
    prof = profile(name, dtype="bf16", quant="none")
    for budget in BUDGETS.values():
        problem = build_problem(prof, build_inventory(max_memory=budget, reserve=0), weights_only=True)
        nsm = model._no_split_modules
        balanced = get_balanced_memory(model, max_memory=dict(budget), no_split_module_classes=nsm, dtype=torch.bfloat16)
        theirs = accelerate.infer_auto_device_map(model, max_memory=balanced, no_split_module_classes=nsm, dtype=torch.bfloat16)
        assert accelerate_greedy(problem, prof) == unit_keys(theirs, [it.names[0] for it in problem.items])


@pytest.mark.parametrize("name", MODELS)
def test_device_maps_pass_accelerate_checks(hf, meta_models, name):
    from accelerate.utils import check_device_map, check_tied_parameters_on_same_device, find_tied_parameters

    model = meta_models[name]
    prof = profile(name, dtype="bf16", quant="none", prompt_tokens=1024)
    checked = 0
    for budget in BUDGETS.values():
        plan = make_plan(prof, build_inventory(max_memory=budget, disk="4TiB"), objective="balance", diagnose=False)
        if plan.status == "infeasible":  # e.g. DeepSeek-R1's 21 GiB MoE layers cannot be onloaded into a 24 GiB GPU
            assert plan.baseline.violations
            continue
        assert plan.status == "optimal"
        check_device_map(model, plan.device_map)
        check_tied_parameters_on_same_device(find_tied_parameters(model), plan.device_map)
        checked += 1
    assert checked >= 2


TINY = {
    "llama-tied": json.loads((ROOT / "examples" / "tiny-llama" / "config.json").read_text()),
    "mixtral": {"model_type": "mixtral", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 3,
                "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 3000, "num_local_experts": 4,
                "num_experts_per_tok": 2, "torch_dtype": "float32"},
    "qwen2": {"model_type": "qwen2", "hidden_size": 256, "intermediate_size": 704, "num_hidden_layers": 5,
              "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 5000, "tie_word_embeddings": False,
              "torch_dtype": "float32"},
}


def _save_random(hf, cfg: dict, folder):
    transformers, _, torch = hf
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(**cfg)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps({**json.loads((folder / "config.json").read_text()), "torch_dtype": "float32"}))
    return model


@pytest.mark.parametrize("kind", sorted(TINY))
@pytest.mark.parametrize("cpu_share", [0.35, 0.7])
def test_plan_loads_for_real_on_cpu_and_disk(hf, tmp_path, kind, cpu_share):
    transformers, accelerate, torch = hf
    folder = tmp_path / "model"
    model = _save_random(hf, TINY[kind], folder)
    prof = profile(str(folder / "config.json"), dtype="fp32", prompt_tokens=12)
    plan = make_plan(prof, build_inventory(cpu=int(prof.weights_bytes * cpu_share), disk="1GiB"), diagnose=False)
    assert plan.status == "optimal"
    values = set(plan.device_map.values())
    assert values == {"cpu", "disk"}, plan.device_map
    ids = torch.randint(0, TINY[kind]["vocab_size"], (2, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(ids).logits
    loaded = transformers.AutoModelForCausalLM.from_pretrained(
        folder, dtype=torch.float32, device_map=plan.device_map, max_memory=plan.max_memory,
        offload_folder=str(tmp_path / plan.offload_folder))
    # Offloading moves weights, not arithmetic, but MoE layers group tokens per expert in an order
    # that can change with where the experts live: the logits agree to float32 rounding (a few ulps
    # of values of order 1), not bit for bit. 1e-5 is 100x that and far below any real misplacement.
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids).logits, want, rtol=1e-5, atol=1e-5)
    dispatched = accelerate.dispatch_model(model, device_map=plan.device_map, offload_dir=str(tmp_path / "dispatch"))
    with torch.no_grad():
        torch.testing.assert_close(dispatched(ids).logits, want, rtol=1e-5, atol=1e-5)

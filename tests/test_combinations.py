"""Answers that hold where features meet: the planner's answer for each combination of family x
quantization x budget x engine x modality, replayed through the real library.

Three oracles, all transformers itself:
- layout: each family loaded with each bitsandbytes scheme on the CPU (a map of one device, which
  quantizes every module bnb converts) holds, unit by unit, exactly the bytes the planner sizes
  on a GPU;
- placement: the planned map and load recipe, written by ``planner plan --device-map-out`` and
  read back by ``load_device_map``, loads with ``from_pretrained`` on CPU + disk and holds on each
  device what the plan says (bitsandbytes leaves offloaded modules unquantized), with the logits
  of the whole model;
- GPU maps (no GPU here): the planned map and recipe through transformers' own quantizer
  (``get_hf_quantizer``: its validate_environment, then the module replacement of
  ``preprocess_model`` on a meta model), with the GPU's compute capability as torch would report
  it: every map the planner prints is accepted, and the bytes per device of the modules it
  converts or leaves equal the plan's. fp8's CUDA kernels cannot run here; its rules are
  transformers' own code, run on the meta model.
The vLLM side is tests/test_vllm_flags.py (recorded engine arguments and vLLM's quantization rules).
"""

from __future__ import annotations

import contextlib
import json
from unittest import mock

import pytest
from combination_cases import FAMILIES, VLMS, auto_class, device_bytes, disk_bytes, held_by_unit, save_tiny
from conftest import run_cli

from planner import load_device_map, profile
from planner.catalog import find_gpu
from planner.costs.profile import on_gpu
from planner.costs.quant import make_scheme, quantized_linear_bytes
from planner.hardware.inventory import build_inventory
from planner.placement.plan import make_plan
from planner.workload import Workload

pytestmark = [pytest.mark.hf, pytest.mark.slow]
BNB = ["int8", "nf4", "fp4"]


@pytest.fixture(scope="module")
def saved(hf, tmp_path_factory):
    """Each family saved once for the module, in bf16."""
    root = tmp_path_factory.mktemp("families")
    out = {}
    for family in FAMILIES:
        folder = root / family
        out[family] = (folder, save_tiny(hf, family, folder))
    return out


def _workload(quant: str | None, **more) -> Workload:
    return Workload(quant=quant or "none", double_quant=quant == "fp4", prompt_tokens=8, **more)


@pytest.mark.parametrize("quant", BNB)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_bitsandbytes_holds_what_the_planner_sizes_on_a_gpu(hf, saved, family, quant):
    transformers = hf[0]
    folder, _ = saved[family]
    prof = profile(str(folder), _workload(quant))
    model = auto_class(transformers, family).from_pretrained(folder, quantization_config=prof.load.quantization_config(False),
                                                             device_map={"": "cpu"})
    held = held_by_unit(model, [u.name for u in prof.units])
    assert held == {u.name: u.weights_bytes for u in prof.units}


@pytest.mark.parametrize("budget", ["cpu", "cpu+disk"])
@pytest.mark.parametrize("quant", [None, *BNB])
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_planned_map_and_recipe_load_and_hold_what_the_plan_says(hf, saved, tmp_path, family, quant, budget):
    """No GPU: the CPU executes; with a disk the plan needs bnb's offload flag (the recipe sets it),
    and every module on the CPU or disk stays bf16."""
    transformers, _, torch = hf
    folder, whole = saved[family]
    prof = profile(str(folder), _workload(quant))
    cpu = sum(u.hosted_bytes for u in prof.units)
    args = ["plan", str(folder), "--prompt-tokens", "8", "--quant", quant or "none", "--offload-folder", str(tmp_path / "off")]
    if quant == "fp4":
        args.append("--double-quant")
    if budget == "cpu":
        args += ["--cpu", str(cpu * 2)]
    else:  # about half on disk; the CPU also stages one disk unit
        args += ["--cpu", str(cpu // 2 + max(u.hosted_bytes for u in prof.units)), "--disk", "1GiB"]
    doc_path = tmp_path / "map.json"
    r = run_cli(*args, "--device-map-out", str(doc_path), "--json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    kwargs = load_device_map(doc_path)
    assert ("disk" in kwargs["device_map"].values()) == (budget != "cpu")
    if quant:
        assert kwargs["quantization_config"]["llm_int8_enable_fp32_cpu_offload"] is True
    loaded = auto_class(transformers, family).from_pretrained(folder, **kwargs)
    devices = {d["key"]: d for d in plan["devices"]}
    assert device_bytes(loaded, "cpu") == devices["cpu"]["weights_bytes"]  # with the disk units' buffers: it executes them
    if "disk" in devices:
        assert disk_bytes(loaded) == devices["disk"]["weights_bytes"]
    if family in VLMS:
        return  # a text-only forward of a VLM is the llama test's; its images are the VLM tests'
    ids = torch.randint(0, 380, (1, 8), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # offloaded modules are the checkpoint's bf16 weights: the whole model's logits
        torch.testing.assert_close(loaded(ids).logits, whole(ids).logits, rtol=1e-2, atol=1e-2)


# GPU maps: transformers' quantizer on a meta model --------------------------------------------------
GPU_QUANTS = [None, "int8", "nf4", "fp8"]
BUDGETS = ["gpus", "gpu+cpu", "gpu+cpu+disk"]
GPUS = {"H100": (9, 0), "A100-80GB": (8, 0)}


def _gpu_inventory(prof, budget: str, gpu: str):
    """GPUs of the catalog type, capped to force the budget's offload for this tiny model: two that
    hold it all, or one with room to run its largest unit and onload the largest offloaded one."""
    total = sum(u.weights_bytes + u.kv_bytes for u in prof.units)
    need = max(u.weights_bytes + u.kv_bytes + u.activation_peak_bytes for u in prof.units)
    if budget == "gpus":
        per = int((total // 2 + need) * 1.1)
        return build_inventory([f"2x{gpu}"], max_memory={0: per, 1: per})
    hosted = sum(u.hosted_bytes + u.buffer_bytes for u in prof.units)
    small = int((need + max(u.hosted_bytes for u in prof.units) + prof.kv_bytes) * 1.1) + 4096
    caps = {0: small, "cpu": hosted * 2}
    if budget == "gpu+cpu+disk":
        caps = {0: small, "cpu": max(u.hosted_bytes for u in prof.units) * 3, "disk": hosted * 2}
    return build_inventory([gpu], max_memory=caps)


def _transformers_holds(hf, family: str, device_map: dict, recipe: dict | None, capability, dtype) -> dict:
    """Bytes per device of the modules transformers builds for this map and recipe: its quantizer
    validates the map and replaces modules on a meta model, as from_pretrained does, with torch
    reporting ``capability`` for CUDA device 0. Raises what the quantizer raises."""
    transformers, _, torch = hf
    from transformers.quantizers.auto import get_hf_quantizer

    config = transformers.AutoConfig.for_model(**FAMILIES[family])
    quantizer = None
    with contextlib.ExitStack() as stack:
        if recipe is not None and recipe["quant_method"] == "fp8":  # bitsandbytes checks no capability (and needs the real CUDA state)
            stack.enter_context(mock.patch("torch.cuda.is_available", return_value=True))
            stack.enter_context(mock.patch("torch.cuda.get_device_capability", return_value=capability))
        if recipe is not None:
            quantizer, config, _ = get_hf_quantizer(config, dict(recipe), device_map, True, {})
        with torch.device("meta"):
            model = auto_class(transformers, family).from_config(config, dtype=dtype)
        if quantizer is not None:  # from_pretrained replaces modules with the model dtype as torch's default
            default = torch.get_default_dtype()
            torch.set_default_dtype(dtype)
            try:
                quantizer.preprocess_model(model=model, dtype=dtype, device_map=device_map, checkpoint_files=None,
                                           use_kernels=False)
            finally:
                torch.set_default_dtype(default)
    order = sorted(device_map, key=len, reverse=True)
    gpus = sorted(v for v in set(device_map.values()) if v not in ("cpu", "disk"))
    main = gpus[0] if gpus else "cpu"  # accelerate's dispatch_model: the execution device of what is offloaded
    out: dict = {}
    seen = set()
    for mname, module in model.named_modules():
        buffers = {id(b) for b in module.buffers(recurse=False)}
        for pname, t in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            if id(t) in seen:
                continue
            seen.add(id(t))
            full = f"{mname}.{pname}" if mname else pname
            where = device_map[next(k for k in order if k == "" or full == k or full.startswith(k + "."))]
            if id(t) in buffers and where in ("cpu", "disk"):  # offload_buffers=False: buffers go to the main device
                where = main
            out[where] = out.get(where, 0) + _module_param_bytes(module, pname, t, recipe)
    return out


def _module_param_bytes(module, pname: str, t, recipe: dict | None) -> int:
    """A parameter's bytes as loaded: bitsandbytes' replaced Linears hold the layout the layout test
    checks against real bitsandbytes; every other tensor (fp8 weights and scales included) its own."""
    kind = type(module).__name__
    if pname == "weight" and kind in ("Linear4bit", "Linear8bitLt"):
        name = "int8" if kind == "Linear8bitLt" else recipe["bnb_4bit_quant_type"]
        scheme = make_scheme(name, double_quant=recipe.get("bnb_4bit_use_double_quant", False))
        return quantized_linear_bytes(scheme, module.in_features, module.out_features)
    return t.numel() * t.element_size()


@pytest.mark.parametrize("gpu", sorted(GPUS))
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("quant", GPU_QUANTS)
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_gpu_maps_pass_the_quantizer_and_hold_what_the_plan_says(hf, saved, family, quant, budget, gpu):
    torch = hf[2]
    folder, _ = saved[family]
    prof = on_gpu(profile(str(folder), _workload(quant)), find_gpu(gpu))  # as transformers loads it on that GPU
    plan = make_plan(prof, _gpu_inventory(prof, budget, gpu), diagnose=False)
    if plan.status == "infeasible":
        # only where the engine refuses offload: fp8 quantized while loading must fit the GPUs
        assert quant == "fp8" and budget != "gpus" and GPUS[gpu] >= (8, 9), (family, quant, budget, gpu)
        assert plan.profile.load.offload_refusal
        return
    assert plan.status == "optimal"
    offloads = any(v in ("cpu", "disk") for v in plan.device_map.values())
    assert not offloads or budget != "gpus", plan.device_map
    if budget != "gpus" and not offloads:  # the GPU sized to run the largest unit and onload another holds it all
        assert len(plan.devices) and sum(u.weights_bytes for u in prof.units) <= plan.devices[0].capacity_bytes
    recipe = plan.profile.load.quantization_config(offloads)
    held = _transformers_holds(hf, family, plan.device_map, recipe, GPUS[gpu], torch.bfloat16)
    want = {d.key: d.load.weights_bytes for d in plan.devices if d.load.weights_bytes}
    assert held == want, (family, quant, budget, gpu, plan.device_map)


@pytest.mark.parametrize("family", ["llama", "mixtral"])
def test_the_quantizers_refuse_what_the_planner_refuses(hf, saved, family):
    """The rules the planner applies, shown on transformers' own quantizers: bnb refuses a map with
    cpu entries without the offload flag; fp8 quantized while loading refuses any cpu entry; below
    compute capability 8.9 fp8 leaves every Linear unquantized (the planner sizes it at the model dtype)."""
    torch = hf[2]
    folder, _ = saved[family]
    units = [u.name for u in profile(str(folder)).units]
    mixed = {u: 0 for u in units} | {units[1]: "cpu"}
    bnb = {"quant_method": "bitsandbytes", "load_in_4bit": True, "bnb_4bit_quant_type": "nf4"}
    with pytest.raises(ValueError, match="llm_int8_enable_fp32_cpu_offload=True"):
        _transformers_holds(hf, family, mixed, bnb, (9, 0), torch.bfloat16)
    with pytest.raises(ValueError, match="quantized on the fly"):
        _transformers_holds(hf, family, mixed, {"quant_method": "fp8", "weight_block_size": [128, 128]}, (9, 0), torch.bfloat16)
    a100 = _transformers_holds(hf, family, {"": 0}, {"quant_method": "fp8", "weight_block_size": [128, 128]}, (8, 0),
                               torch.bfloat16)
    prof = profile(str(folder), _workload("fp8"))
    plan = make_plan(prof, build_inventory(["A100-80GB"]), diagnose=False)
    assert plan.profile.quant is None and a100 == {0: plan.devices[0].load.weights_bytes}

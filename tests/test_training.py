"""Training memory: model states against DeepSpeed's own estimators, categories that add up, and
the effect of every switch."""

from __future__ import annotations

import pytest

from planner import profile
from planner.costs.training import TrainingSetup, training_cost
from planner.costs.weights import tensor_bytes
from planner.errors import InputError

GiB = 2**30
CASES = [  # (zero, gpus, offload optimizer, offload params)
    (2, 1, False, False), (2, 8, False, False), (2, 16, False, False), (2, 8, True, False),
    (3, 8, False, False), (3, 8, True, False), (3, 8, True, True), (3, 32, True, True), (3, 16, False, False),
]


def states(cost) -> int:
    buffers = sum(tensor_bytes(t, 16) for u in cost_profile().spec.units for t in u.tensors if t.kind == "buffer")
    return (cost.total("weights_bytes") + cost.total("gradients_bytes") + cost.total("optimizer_bytes") + cost.gather_bytes
            - buffers)


def cost_profile():
    return profile("Meta-Llama-3-8B", dtype="bf16")


def deepspeed_says(zero, gpus, off_opt, off_params):
    """(cost, DeepSpeed's (cpu, gpu) bytes) for a setup, from DeepSpeed's own estimator functions."""
    pytest.importorskip("deepspeed")
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    cost = training_cost(cost_profile(), TrainingSetup(zero=zero, gpus=gpus, offload_optimizer=off_opt,
                                                         offload_params=off_params))
    per_node, nodes = min(gpus, 8), -(-gpus // 8)
    if zero == 2:
        return cost, estimate_zero2_model_states_mem_needs(cost.trainable_parameters, per_node, nodes, off_opt)
    cpu, gpu, _ = estimate_zero3_model_states_mem_needs(cost.trainable_parameters, cost.largest_layer_parameters,
                                                          per_node, nodes, off_opt, off_params, True)
    return cost, (cpu, gpu)


@pytest.mark.parametrize("zero, gpus, off_opt, off_params", CASES)
def test_gpu_model_states_equal_deepspeed(zero, gpus, off_opt, off_params):
    cost, (cpu, gpu) = deepspeed_says(zero, gpus, off_opt, off_params)
    assert abs(states(cost) - gpu) <= 8  # integer division of the per-GPU share
    if zero == 3 and off_opt:
        assert cost.cpu_bytes * 1.5 == pytest.approx(cpu, rel=1e-9)  # DeepSpeed adds a 1.5x buffer factor on CPU


def test_issue_figures_for_llama3_8b():
    """One GPU, bf16 with AdamW: DeepSpeed's ZeRO-2 formula gives 149.6 GiB of model states."""
    cost = training_cost(cost_profile(), TrainingSetup(zero=2, gpus=1))
    assert round(states(cost) / GiB, 1) == 149.6


def test_lora_and_qlora_shrink_everything_but_activations():
    full = training_cost(cost_profile(), TrainingSetup(micro_batch=1, seq_len=1024))
    lora = training_cost(cost_profile(), TrainingSetup(micro_batch=1, seq_len=1024, lora_rank=16))
    qlora = training_cost(cost_profile(), TrainingSetup(micro_batch=1, seq_len=1024, lora_rank=16, qlora=True))
    # q and o 4096->4096, k and v 4096->1024, gate and up 4096->14336, down 14336->4096; rank 16, 32 layers:
    # 41,943,040, the figure PEFT prints for Llama-3-8B with all linear layers targeted
    assert lora.trainable_parameters == 16 * 32 * (2 * 8192 + 2 * 5120 + 3 * 18432) == 41_943_040
    # LoRA's weights are the frozen bf16 base plus fp32 adapters; QLoRA's base is NF4
    assert lora.total("weights_bytes") == full.total("weights_bytes") + 4 * lora.trainable_parameters
    nf4 = profile("Meta-Llama-3-8B", dtype="bf16", quant="nf4", double_quant=True).weights_bytes
    assert qlora.total("weights_bytes") == nf4 + 4 * qlora.trainable_parameters
    assert lora.total("optimizer_bytes") < full.total("optimizer_bytes") / 100
    assert lora.total("activation_bytes") == full.total("activation_bytes")


def test_checkpointing_and_optimizers_order():
    act = {c: training_cost(cost_profile(), TrainingSetup(seq_len=4096, checkpointing=c)).total("activation_bytes")
           for c in ("none", "selective", "full")}
    assert act["none"] > act["selective"] > act["full"]
    opt = {o: training_cost(cost_profile(), TrainingSetup(optimizer=o)).total("optimizer_bytes")
           for o in ("adamw", "adamw8bit", "sgd", "adafactor")}
    assert opt["adamw"] > opt["sgd"] > opt["adamw8bit"] > opt["adafactor"]


@pytest.mark.parametrize("setup, field", [
    (dict(offload_params=True, zero=2), "offload-params"), (dict(offload_optimizer=True), "offload-optimizer"),
    (dict(qlora=True), "qlora"), (dict(tp=3), "tp"), (dict(optimizer="adafactor", optimizer_impl="foreach"), "optimizer-impl"),
    (dict(zero=1, optimizer_impl="forloop"), "optimizer-impl"),
])
def test_bad_combinations_are_refused_naming_the_flag(setup, field):
    with pytest.raises(InputError, match=field):
        training_cost(cost_profile(), TrainingSetup(**setup))


@pytest.mark.parametrize("setup, field", [(dict(zero=4), "zero"), (dict(optimizer="lion"), "optimizer"),
                                          (dict(gpus=0), "gpus"), (dict(zero=True), "zero"), (dict(lora_rank="8"), "lora_rank")])
def test_bad_values_are_refused_on_construction(setup, field):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=field):
        TrainingSetup(**setup)


@pytest.mark.parametrize("zero, gpus, off_opt, off_params", CASES)
def test_reported_deepspeed_estimate_is_deepspeeds(zero, gpus, off_opt, off_params):
    """The comparison line printed beside the plan reimplements DeepSpeed's estimators: same bytes."""
    from planner.export.training_report import deepspeed_estimate

    cost, (cpu, gpu) = deepspeed_says(zero, gpus, off_opt, off_params)
    mine = deepspeed_estimate(cost)
    assert (mine["gpu_bytes"], mine["cpu_bytes"]) == (gpu, cpu)


@pytest.mark.parametrize("args", [["--zero", "1"], ["--zero", "2", "--offload-optimizer"], ["--zero", "3"],
                                  ["--zero", "3", "--offload-optimizer", "--offload-params", "--grad-accum", "4"],
                                  ["--precision", "fp32", "--optimizer", "sgd"], ["--zero", "2", "--optimizer-impl", "foreach"]])
def test_deepspeed_accepts_the_config(args):
    """DeepSpeed's own parser reads the printed config, and the communication buffers counted
    are those its ZeRO optimizers allocate for the bucket sizes it read (stage_1_and_2.py: one
    ``reduce_bucket_size`` buffer, two with ``overlap_comm``; stage3.py: one, plus the prefetch)."""
    pytest.importorskip("deepspeed")
    import json

    from conftest import run_cli
    from deepspeed.runtime.config import DeepSpeedConfig

    r = run_cli("estimate", "Meta-Llama-3-8B", "--mode", "training", "--batch", "2", *args, "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    parsed = DeepSpeedConfig(doc["deepspeed_config"])
    assert parsed.zero_config.stage == doc["setup"]["zero"]
    assert parsed.train_micro_batch_size_per_gpu == 2
    z = parsed.zero_config
    width = 4 if doc["setup"]["precision"] == "fp32" else 2
    buffers = (2 if z.overlap_comm and z.stage < 3 else 1) * z.reduce_bucket_size * width if z.stage else 0
    if z.stage == 3:  # the prefetch beyond the largest layer is bounded by stage3_prefetch_bucket_size
        assert buffers < doc["comm_buffer_bytes"] <= buffers + 2 * z.prefetch_bucket_size
    else:
        assert doc["comm_buffer_bytes"] == buffers
    if doc["optimizer_impl"] == "foreach" and doc["setup"]["optimizer"] == "adamw":
        assert parsed.optimizer_params["torch_adam"] is True
    else:
        assert "torch_adam" not in (parsed.optimizer_params or {})


def test_tensor_and_pipeline_parallel_split_the_states():
    prof = profile("Llama-3.1-70B", dtype="bf16")
    one = training_cost(prof, TrainingSetup(seq_len=1024))
    tp8 = training_cost(prof, TrainingSetup(seq_len=1024, tp=8))
    norms = sum(u.weights_bytes for u in prof.units if u.kind in ("norm", "rotary")) + 80 * 2 * 8192 * 2
    # every Linear splits 8 ways (the vocabulary is a multiple of 64 already); norms stay whole on each rank
    assert tp8.total("weights_bytes") == pytest.approx((one.total("weights_bytes") - norms) / 8 + norms, rel=1e-6)
    assert tp8.total("activation_bytes") < one.total("activation_bytes")
    pp4 = training_cost(prof, TrainingSetup(seq_len=1024, pp=4))
    assert pp4.total("weights_bytes") < one.total("weights_bytes") / 3.5
    deep = training_cost(prof, TrainingSetup(seq_len=1024, pp=4, grad_accum=8))
    assert deep.stage == 0  # 1F1B: the first stage keeps 4 micro-batches of activations in flight
    layer = next(u for u in deep.units if u.name == "model.layers.0")
    assert layer.activation_bytes == 4 * next(u for u in one.units if u.name == "model.layers.0").activation_bytes
    with pytest.raises(InputError, match="tp"):
        training_cost(prof, TrainingSetup(tp=3))


def test_lora_targets_choose_the_modules():
    """q_proj and v_proj at rank 16 on Llama-3-8B: 6,815,744 trainable parameters, PEFT's count."""
    from conftest import run_cli

    r = run_cli("estimate", "Meta-Llama-3-8B", "--mode", "training", "--lora-rank", "16", "--lora-targets", "q_proj,v_proj",
                "--json")
    assert __import__("json").loads(r.stdout)["trainable_parameters"] == 6_815_744


@pytest.mark.parametrize("args, field", [
    (["estimate", "Meta-Llama-3-8B", "--mode", "training", "--tp", "3"], "tp"),
    (["estimate", "Meta-Llama-3-8B", "--mode", "training", "--pp", "1000"], "pp"),
    (["estimate", "Meta-Llama-3-8B", "--mode", "training", "--num-gpus", "0"], "num-gpus"),
    (["estimate", "Meta-Llama-3-8B", "--mode", "training", "--lora-rank", "8", "--lora-targets", "foo"], "lora-targets"),
    (["estimate", "Meta-Llama-3-8B", "--mode", "compression", "--samples", "0"], "samples"),
    (["size", "Meta-Llama-3-8B", "--mode", "compression", "--samples", "-1"], "samples"),
    (["size", "Meta-Llama-3-8B", "--mode", "training", "--zero", "7"], "zero"),
])
def test_training_and_compression_bad_flags(args, field):
    from conftest import assert_input_error, run_cli

    assert_input_error(run_cli(*args), field)


def test_eager_attention_probabilities_follow_the_training_sequence_length():
    """With eager attention a layer keeps batch x heads x seq x seq probabilities (fp32 softmax
    output and its bf16 copy: 6 bytes each); seq is --seq-len, whatever --prompt-tokens says."""
    from planner import profile
    from planner.costs.training import TrainingSetup, training_cost

    def layer_activations(prompt_tokens: int, seq_len: int, attn: str) -> int:
        prof = profile("Meta-Llama-3-8B", mode="training", attn_implementation=attn, prompt_tokens=prompt_tokens)
        cost = training_cost(prof, TrainingSetup(seq_len=seq_len, micro_batch=1))
        return next(u.activation_bytes for u in cost.units if u.name == "model.layers.0")

    at_4096 = layer_activations(512, 4096, "eager")
    assert at_4096 == layer_activations(4096, 4096, "eager")
    probabilities = at_4096 - layer_activations(512, 4096, "sdpa")
    assert probabilities == 4096 * 32 * 4096 * (4 + 2)  # tokens x heads x seq x (fp32 + bf16)


def test_a_larger_answer_names_the_fixes_and_prints_its_own_deepspeed_config(monkeypatch):
    """--zero 3 over 8 RTX 3090s does not fit; the answer's count gets its own config (which
    DeepSpeed accepts at that data-parallel size), and each fix it names really fits 8."""
    import json
    from dataclasses import replace

    from conftest import run_cli

    from planner.catalog import find_gpu
    from planner.hardware.inventory import usable_bytes

    r = run_cli("estimate", "Meta-Llama-3-8B", "--mode", "training", "--zero", "3", "--num-gpus", "8", "--gpu", "RTX3090",
                "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    (answer,) = doc["hardware"]
    assert answer["gpus"] > 8 and answer["fixes_at_asked_gpus"]
    config = answer["deepspeed_config"]
    assert config["train_batch_size"] == config["train_micro_batch_size_per_gpu"] * config["gradient_accumulation_steps"] \
        * answer["gpus"]
    deepspeed = pytest.importorskip("deepspeed")

    class DataParallel:  # what DeepSpeed asks an mpu for: the data-parallel world size
        def get_data_parallel_world_size(self):
            return answer["gpus"]

        def get_data_parallel_rank(self):
            return 0

        def get_model_parallel_world_size(self):
            return 1

    # rank 0 of a job of that size: DeepSpeed reads the rank, then the data-parallel size from the mpu
    monkeypatch.setattr(deepspeed.runtime.config.dist, "get_rank", lambda *a, **k: 0)
    parsed = deepspeed.runtime.config.DeepSpeedConfig(config, mpu=DataParallel())
    assert parsed.train_batch_size == answer["gpus"]
    prof = profile("Meta-Llama-3-8B", mode="training")
    base = TrainingSetup(zero=3, gpus=8)
    changes = {"--checkpointing full": {"checkpointing": "full"}, "--offload-optimizer": {"offload_optimizer": True},
               "--offload-optimizer --offload-params": {"offload_optimizer": True, "offload_params": True},
               "--lora-rank 16": {"lora_rank": 16}, "--lora-rank 16 --qlora": {"lora_rank": 16, "qlora": True}}
    for fix in answer["fixes_at_asked_gpus"]:
        assert training_cost(prof, replace(base, **changes[fix])).gpu_peak_bytes <= usable_bytes(find_gpu("RTX3090")), fix
    assert training_cost(prof, base).gpu_peak_bytes > usable_bytes(find_gpu("RTX3090"))


def test_the_peak_phase_and_each_suggested_change_hold_when_run():
    """The answer names the phase that sets the peak and single changes that lower it; running
    each suggestion as printed gives the peak it promised, and a lower one."""
    import json
    import shlex

    from conftest import run_cli

    base = ["estimate", "Llama-3.2-1B", "--mode", "training", "--precision", "fp32", "--optimizer-impl", "foreach",
            "--seq-len", "256", "--json"]
    doc = json.loads(run_cli(*base).stdout)
    assert doc["peak_phase"] == "optimizer step" and doc["gpu_peak_bytes"] == max(doc["phases_bytes"].values())
    fixes = doc["lower_peak_with"]
    assert {f["flags"] for f in fixes} >= {"--optimizer-impl fused", "--optimizer adamw8bit --optimizer-impl auto"}
    for fix in fixes:  # appended to the command as typed (a flag given twice takes its last value)
        again = json.loads(run_cli(*base, *shlex.split(fix["flags"])).stdout)
        assert again["gpu_peak_bytes"] == fix["gpu_peak_bytes"] < doc["gpu_peak_bytes"], fix


FLAG_VALUES = {"precision": "fp32", "optimizer": "sgd", "optimizer_impl": "foreach", "zero": 3, "gpus": 8,
               "gpus_per_node": 4, "offload_optimizer": True, "offload_params": True, "grad_accum": 4,
               "checkpointing": "full", "lora_rank": 8, "lora_targets": ("q_proj", "v_proj"), "qlora": True, "tp": 2, "pp": 2}
NEEDS = {"offload_optimizer": {"zero": 1}, "offload_params": {"zero": 3, "offload_optimizer": True}, "qlora": {"lora_rank": 8}}
"""Settings another one needs (offload needs a ZeRO stage, QLoRA a rank)."""


def _as_flags(settings: dict) -> list[str]:
    from planner.flags import flag_of

    out = []
    for name, value in settings.items():
        out.append(flag_of(name)[0])
        if value is not True:
            out.append(",".join(value) if isinstance(value, tuple) else str(value))
    return out


@pytest.mark.parametrize("field", sorted(FLAG_VALUES))
def test_every_training_setting_is_one_flag_and_one_yaml_key(field, tmp_path, monkeypatch, capsys):
    """The flags are generated from TrainingSetup and the what-if ``training:`` section is that
    same model: each setting typed as a flag lands in the setup the costs use, and the same
    setting in a what-if file gives the same memory."""
    import dataclasses
    import json

    from test_hostile_corpus import run_in_process

    assert {f.name for f in dataclasses.fields(TrainingSetup)} == set(FLAG_VALUES) | {"micro_batch", "seq_len"}
    value = FLAG_VALUES[field]
    settings = {**NEEDS.get(field, {}), field: value}
    code, out, err = run_in_process(["estimate", "Llama-3.2-1B", "--mode", "training", "--seq-len", "512",
                                     *_as_flags(settings), "--json"], monkeypatch, capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["setup"][field] == (list(value) if isinstance(value, tuple) else value)
    training = {"seq_len": 512, **{k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()}}
    path = tmp_path / "t.yaml"
    path.write_text(json.dumps({"model": "Llama-3.2-1B", "task": "training", "training": training}))
    code, out, err = run_in_process(["whatif", str(path), "--json", "-"], monkeypatch, capsys)
    assert code == 0, err
    row = json.loads(out)[0]["results"]
    assert row["optimizer_bytes"] == doc["total"]["optimizer_bytes"] and row["gradients_bytes"] == doc["total"]["gradients_bytes"]

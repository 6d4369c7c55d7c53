"""The training step phase by phase against torch's MemTracker, on CPU, for each optimizer
implementation: dense (llama), MoE (mixtral), tied embeddings (gpt2, the 2-layer gpt2-xl of the
training-peak issue; qwen2 with grouped KV heads 7:1). Real torch optimizers (AdamW for-loop,
foreach and fused; SGD with momentum; transformers' Adafactor; bitsandbytes' 8-bit AdamW on its
CPU backend), the second step measured (the
first creates the states inside ``step()``: the same step peak).

Three trackers per case: the forward pass (with the loss), the optimizer step alone, and the
whole step. States are exact (1%), the optimizer phase (states + its temporaries) within 2%, and
the forward phase and the whole step's peak within 10%, the tolerance of the activation model.
"""

from __future__ import annotations

import pytest

from planner.costs.profile import profile
from planner.costs.training import TrainingSetup, training_cost
from planner.model.hf_config import spec_from_config
from planner.workload import Workload

MODELS = {
    "llama": dict(model_type="llama", hidden_size=512, intermediate_size=1408, num_hidden_layers=4, num_attention_heads=8,
                  num_key_value_heads=2, vocab_size=8000),
    "mixtral": dict(model_type="mixtral", hidden_size=512, intermediate_size=512, num_local_experts=8,
                    num_experts_per_tok=2, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2, vocab_size=8000),
    "gpt2-xl-2": dict(model_type="gpt2", n_embd=1600, n_head=25, n_layer=2, n_positions=1024, vocab_size=50257),
    "qwen2-tied": dict(model_type="qwen2", hidden_size=448, intermediate_size=1216, num_hidden_layers=3,
                          num_attention_heads=7, num_key_value_heads=1, vocab_size=8000, tie_word_embeddings=True),
}
CASES = [  # family, precision, optimizer, implementation, batch, seq
    ("gpt2-xl-2", "fp32", "adamw", "foreach", 1, 512),
    ("gpt2-xl-2", "fp32", "adamw", "forloop", 1, 512),
    ("llama", "fp32", "adamw", "fused", 1, 256),
    ("llama", "bf16", "adamw", "foreach", 2, 256),
    ("llama", "bf16", "adamw", "forloop", 2, 256),
    ("llama", "bf16", "sgd", "foreach", 1, 256),
    ("llama", "fp32", "adafactor", "auto", 1, 256),
    ("llama", "bf16", "adafactor", "auto", 1, 256),
    ("llama", "fp32", "adamw8bit", "auto", 1, 256),
    ("llama", "bf16", "adamw8bit", "auto", 1, 128),  # real bf16 arithmetic (bitsandbytes): kept small
    ("mixtral", "bf16", "adamw", "foreach", 2, 256),
    ("mixtral", "fp32", "adamw", "fused", 1, 256),
    ("qwen2-tied", "bf16", "adamw", "foreach", 2, 256),
]


def _optimizer(torch, params, optimizer: str, impl: str):
    if optimizer == "adamw8bit":
        import bitsandbytes

        return bitsandbytes.optim.AdamW8bit(params, lr=1e-4, weight_decay=0.0)
    if optimizer == "adafactor":
        from transformers.optimization import Adafactor

        return Adafactor(params, lr=1e-3, relative_step=False, scale_parameter=False, warmup_init=False)
    flags = {"fused": {"fused": True}, "foreach": {"foreach": True}, "forloop": {"foreach": False}}[impl]
    if optimizer == "sgd":
        return torch.optim.SGD(params, lr=1e-3, momentum=0.9, **flags)
    return torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0, **flags)


def _peak(tracker) -> dict[str, int]:
    snapshot = tracker.get_tracker_snapshot("peak")
    return {str(k).split(".")[-1]: v for k, v in next(iter(snapshot.values())).items()}


def tracked_step(model, opt, ids) -> dict[str, int]:
    """Peak memory by MemTracker category of the second training step (forward with the loss,
    backward, optimizer step, gradients freed); the first one creates the optimizer states."""
    from torch.distributed._tools.mem_tracker import MemTracker

    def step():
        model(ids, labels=ids, use_cache=False).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        step()
    return _peak(tracker)


def measure(hf, family: str, precision: str, optimizer: str, impl: str, batch: int, seq: int) -> dict[str, dict[str, int]]:
    transformers, _, torch = hf
    cfg = MODELS[family]
    config = transformers.AutoConfig.for_model(**cfg)
    config._attn_implementation = "sdpa"
    torch.manual_seed(0)
    if precision == "bf16" and optimizer != "adamw8bit":
        # bf16 arithmetic on a CPU without bf16 units is about 100x slower than fp32: run the step
        # under FakeTensorMode, which allocates every tensor of it without computing (bitsandbytes'
        # kernels need real data, so its case stays real)
        from torch._subclasses.fake_tensor import FakeTensorMode

        with FakeTensorMode():
            return _measure_phases(transformers, torch, config, cfg, precision, optimizer, impl, batch, seq)
    return _measure_phases(transformers, torch, config, cfg, precision, optimizer, impl, batch, seq)


def _measure_phases(transformers, torch, config, cfg, precision, optimizer, impl, batch, seq):
    from torch.distributed._tools.mem_tracker import MemTracker

    dtype = torch.float32 if precision == "fp32" else torch.bfloat16
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype).train()
    opt = _optimizer(torch, model.parameters(), optimizer, impl)
    ids = torch.randint(1, cfg["vocab_size"], (batch, seq))

    def forward():
        return model(ids, labels=ids, use_cache=False).loss

    def step():
        forward().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    out = {}
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        loss = forward()
    out["forward"] = _peak(tracker)
    loss.backward()
    del loss
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        opt.step()
    out["step"] = _peak(tracker)
    opt.zero_grad(set_to_none=True)
    tracker = MemTracker()
    tracker.track_external(model, opt)
    with tracker:
        step()
    out["whole"] = _peak(tracker)
    return out


def predict(family: str, precision: str, optimizer: str, impl: str, batch: int, seq: int):
    dtype = "fp32" if precision == "fp32" else "bf16"
    prof = profile(spec_from_config(MODELS[family], family), Workload(dtype=dtype, batch=batch, prompt_tokens=seq))
    return training_cost(prof, TrainingSetup(precision=precision, optimizer=optimizer, optimizer_impl=impl,
                                             micro_batch=batch, seq_len=seq))


@pytest.mark.hf
@pytest.mark.slow
@pytest.mark.parametrize("family, precision, optimizer, impl, batch, seq", CASES)
def test_each_phase_of_the_step_against_memtracker(hf, family, precision, optimizer, impl, batch, seq):
    measured = measure(hf, family, precision, optimizer, impl, batch, seq)
    cost = predict(family, precision, optimizer, impl, batch, seq)
    step = measured["step"]
    assert cost.total("weights_bytes") == pytest.approx(step["PARAM"] + step.get("BUFFER", 0), rel=0.01)
    assert cost.total("gradients_bytes") == pytest.approx(step["GRAD"], rel=0.01)
    # MemTracker files what the step allocates under OPT: the states and the temporaries
    assert cost.total("optimizer_bytes") + cost.step_temp_bytes == pytest.approx(step["OPT"], rel=0.02)
    assert cost.phases["optimizer step"] == pytest.approx(step["Total"], rel=0.02)
    assert cost.phases["forward"] == pytest.approx(measured["forward"]["Total"], rel=0.10)
    assert cost.gpu_peak_bytes == pytest.approx(measured["whole"]["Total"], rel=0.10)


@pytest.mark.hf
@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_ddp_gradient_buckets_are_one_more_copy_of_the_gradients(hf, precision):
    """torch's DDP (gloo, one rank, on CPU: each rank allocates the same) with its default
    ``gradient_as_bucket_view=False`` holds its buckets beside the gradients; after backward the
    memory is weights + gradients + the planner's communication buffers (the buckets), and with
    bucket views the buckets are the gradients."""
    import os
    import socket

    transformers, _, torch = hf
    import torch.distributed as dist
    from torch.distributed._tools.mem_tracker import MemTracker

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=0, world_size=1)
    try:
        config = transformers.AutoConfig.for_model(**MODELS["llama"])
        dtype = torch.float32 if precision == "fp32" else torch.bfloat16
        totals = {}
        for view in (False, True):
            torch.manual_seed(0)
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype).train()
            tracker = MemTracker()
            tracker.track_external(model)
            with tracker:
                ddp = torch.nn.parallel.DistributedDataParallel(model, gradient_as_bucket_view=view)
                ids = torch.randint(1, 8000, (1, 128))
                ddp(ids, labels=ids, use_cache=False).loss.backward()
            current = {str(k).split(".")[-1]: v for k, v in next(iter(tracker.get_tracker_snapshot("current").values())).items()}
            totals[view] = current["Total"]
            del ddp, model
    finally:
        dist.destroy_process_group()
    prof = profile(spec_from_config(MODELS["llama"], "llama"), Workload(dtype=precision, batch=1, prompt_tokens=128))
    cost = training_cost(prof, TrainingSetup(precision=precision, gpus=2, micro_batch=1, seq_len=128))
    assert cost.total("weights_bytes") + cost.total("gradients_bytes") + cost.comm_bytes == pytest.approx(totals[False], rel=0.01)
    assert cost.comm_bytes == pytest.approx(totals[False] - totals[True], rel=0.01)


FAKE_LAYERS = 4
"""Models of more than 16 layers keep their real widths (hidden, heads, experts, vocabulary) at 4
layers: every layer is alike, and the time of a fake step grows with the layers (a 32-layer 7B
step took 90 s on 2 cores). Llama-3.2-1B keeps its 16: cut to 4, its foreach optimizer
temporaries come out 50% above the prediction (the tied 128k x 2048 embedding then dominates the
grouping), a case still to model."""
FAKE_CASES = [  # catalog model, implementation, seq, checkpointing (bf16, batch 1)
    ("Llama-3.2-1B", "foreach", 512, "none"),
    ("Llama-3.2-1B", "fused", 4096, "none"),
    ("Qwen2.5-7B", "forloop", 2048, "full"),
    ("Mixtral-8x7B-v0.1", "foreach", 512, "none"),
    ("llava-1.5-7b-hf:text_config", "fused", 1024, "full"),  # a VLM's language model, trained alone
]


def measure_fake(hf, name: str, impl: str, seq: int, checkpointing: str):
    """One step of the real-size model under FakeTensorMode (shapes and dtypes, no data), tracked
    by MemTracker: (peak by category, the planner's cost)."""
    from conftest import catalog_config
    from torch._subclasses.fake_tensor import FakeTensorMode

    transformers, _, torch = hf
    model_name, _, part = name.partition(":")
    cfg = catalog_config(model_name)
    cfg = dict(cfg[part] if part else cfg)
    if cfg["num_hidden_layers"] > 16:
        cfg["num_hidden_layers"] = FAKE_LAYERS
    config = transformers.AutoConfig.for_model(**cfg)
    config._attn_implementation = "sdpa"
    with FakeTensorMode():
        model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).train()
        if checkpointing == "full":
            model.gradient_checkpointing_enable()
        opt = _optimizer(torch, model.parameters(), "adamw", impl)
        peak = tracked_step(model, opt, torch.randint(1, 1000, (1, seq)))
    prof = profile(spec_from_config(cfg, name), Workload(dtype="bf16", batch=1, prompt_tokens=seq))
    cost = training_cost(prof, TrainingSetup(precision="bf16", optimizer_impl=impl, micro_batch=1, seq_len=seq,
                                             checkpointing=checkpointing))
    return peak, cost


@pytest.mark.hf
@pytest.mark.slow
@pytest.mark.parametrize("name, impl, seq, checkpointing", FAKE_CASES)
def test_real_size_step_under_fake_tensors(hf, name, impl, seq, checkpointing):
    """Real widths (1B to 47B-parameter models, the large ones at 4 layers; the last is LLaVA-1.5's language model)
    without the memory: the states and the optimizer's temporaries exact, the step's peak within 10%."""
    peak, cost = measure_fake(hf, name, impl, seq, checkpointing)
    assert cost.total("optimizer_bytes") + cost.step_temp_bytes == pytest.approx(peak["OPT"], rel=0.001)
    assert cost.total("weights_bytes") == pytest.approx(peak["PARAM"] + peak.get("BUFFER", 0), rel=0.001)
    assert cost.gpu_peak_bytes == pytest.approx(peak["Total"], rel=0.10)

"""`planner estimate --mode training`: table, JSON, DeepSpeed config, and DeepSpeed's own estimate
of the model states for comparison (its formulas, reimplemented: no DeepSpeed needed at run time)."""

from __future__ import annotations

import json

from planner.answers.train import TrainingAnswer
from planner.costs.training import TrainingCost
from planner.costs.training_step import deepspeed_buckets
from planner.export.report import header_lines
from planner.export.table import Column, Table, render
from planner.flags import flags_text
from planner.units import size_text


def deepspeed_estimate(cost: TrainingCost) -> dict | None:
    """DeepSpeed's estimate_zero2/3_model_states_mem_needs for this setup (bytes per GPU and per
    node's CPU), where it has one: ZeRO 2 and 3, bf16/fp16 mixed precision with Adam, no LoRA."""
    s = cost.setup
    if s.zero not in (2, 3) or s.precision != "bf16-mixed" or s.optimizer != "adamw" or s.lora_rank or s.tp * s.pp > 1:
        return None
    p, per_node = cost.trainable_parameters, min(s.gpus, s.gpus_per_node)
    nodes = -(-s.gpus // s.gpus_per_node)
    total = per_node * nodes
    if s.zero == 2:
        if s.offload_optimizer:
            gpu, cpu = 2 * p, p * max(4 * total, 16) * 1.5
        else:
            gpu, cpu = 2 * p + int(18 * p / total), p * 4 * per_node * 1.5
    else:
        layer = 4 * cost.largest_layer_parameters
        if s.offload_optimizer and s.offload_params:
            gpu, cpu = layer, p * 18 / nodes * 1.5
        elif s.offload_optimizer:
            gpu, cpu = layer + int(2 * p / total), p * 16 / nodes * 1.5
        else:
            gpu, cpu = layer + int(18 * p / total), cost.largest_layer_parameters * 4 * per_node * 1.5
    return {"gpu_bytes": int(gpu), "cpu_bytes": int(cpu), "source": f"deepspeed estimate_zero{s.zero}_model_states_mem_needs"}


def deepspeed_config(cost: TrainingCost) -> dict:
    """A DeepSpeed config for this setup (ZeRO stage, offload, micro-batch, accumulation, precision)."""
    s = cost.setup
    zero: dict = {"stage": s.zero}
    if s.offload_optimizer:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    if s.offload_params:
        zero["offload_param"] = {"device": "cpu", "pin_memory": True}
    if s.zero >= 1:  # the buffer sizes the memory figures count (training_step.py)
        buckets = deepspeed_buckets(cost.hidden_size)
        zero.update({"overlap_comm": s.zero >= 2, "contiguous_gradients": True,
                     "reduce_bucket_size": buckets["reduce_bucket_size"]})
        if s.zero == 3:
            zero.update({k: buckets[k] for k in ("stage3_prefetch_bucket_size", "stage3_param_persistence_threshold",
                                                 "stage3_max_live_parameters")})
    config: dict = {
        "train_micro_batch_size_per_gpu": s.micro_batch,
        "gradient_accumulation_steps": s.grad_accum,
        "train_batch_size": s.micro_batch * s.grad_accum * s.gpus,
        "zero_optimization": zero,
        "gradient_clipping": 1.0,
    }
    if s.precision == "bf16-mixed":
        config["bf16"] = {"enabled": True}
    if s.optimizer in ("adamw", "sgd"):
        params = {"lr": 1e-5} | ({"weight_decay": 0.0} if s.optimizer == "adamw" else {"momentum": 0.9})
        if s.optimizer == "adamw" and s.impl == "foreach":
            params["torch_adam"] = True  # torch's AdamW (foreach on a GPU) instead of DeepSpeed's FusedAdam
        config["optimizer"] = {"type": "AdamW" if s.optimizer == "adamw" else "SGD", "params": params}
    return config


def _row(cost: TrainingCost) -> dict:
    return {k: cost.total(k) for k in ("weights_bytes", "gradients_bytes", "optimizer_bytes", "activation_bytes")}


def hardware_lines(answer: TrainingAnswer) -> list[str]:
    """Fewest GPUs per type (the types asked, or the five cheapest to rent of the catalog)."""
    setup, asked = answer.cost.setup, answer.asked
    rows = answer.hardware if asked else answer.hardware[:5]
    head = "Fewest GPUs to train with this setup" + ("" if asked else " (the five cheapest per hour of the catalog)")
    out = [f"{head}, ZeRO {setup.zero}:"]
    for h in rows:
        price = f", {h.price_usd_per_hour:.2f} USD/h" if h.price_usd_per_hour else ""
        host = f"; each node also {size_text(h.cost.cpu_bytes)} of CPU RAM for the offloaded states" if h.cost and h.cost.cpu_bytes else ""
        out.append(f"  {h.gpus} x {h.gpu.name} ({size_text(h.gpu_peak_bytes)} peak each{price}{host})")
        if asked and h.fixes:
            out.append(f"    to stay at {setup.gpus} GPU(s), any one of: {'; '.join(flags_text(f) for f in h.fixes)}")
        if asked and h.cost is not None and h.gpus != setup.gpus:
            out.append(f"    DeepSpeed config for {h.gpus} x {h.gpu.name}: {json.dumps(deepspeed_config(h.cost))}")
    if not rows:
        out.append("  none: no GPU type holds it at this setup with up to 1024 GPUs; try checkpointing, ZeRO 3, offload or LoRA")
    return out


def training_doc(answer: TrainingAnswer) -> dict:
    profile, cost, hardware, reducers = answer.profile, answer.cost, answer.hardware, answer.reducers
    s = cost.setup
    return {
        "mode": "training", "model": profile.spec.name, "setup": s.__dict__ | {},
        "trainable_parameters": cost.trainable_parameters,
        "units": [{"name": u.name, "weights_bytes": u.weights_bytes, "gradients_bytes": u.gradients_bytes,
                   "optimizer_bytes": u.optimizer_bytes, "activation_bytes": u.activation_bytes, "hessian_bytes": 0,
                   "trainable_parameters": u.trainable_parameters} for u in cost.units],
        "total": _row(cost) | {"hessian_bytes": 0, "gather_bytes": cost.gather_bytes, "working_bytes": cost.working_bytes},
        "gpu_peak_bytes": cost.gpu_peak_bytes, "cpu_bytes_per_node": cost.cpu_bytes,
        "optimizer_impl": s.impl, "step_temporaries_bytes": cost.step_temp_bytes, "comm_buffer_bytes": cost.comm_bytes,
        "phases_bytes": cost.phases, "peak_phase": cost.peak_phase,
        "lower_peak_with": [{"flags": flags_text(change), "gpu_peak_bytes": peak} for change, peak in reducers],
        "deepspeed_estimate": deepspeed_estimate(cost), "deepspeed_config": deepspeed_config(cost),
        "hardware": [{"type": h.gpu.name, "gpus": h.gpus, "gpu_peak_bytes": h.gpu_peak_bytes, "price_usd": h.price_usd,
                      "price_usd_per_hour": h.price_usd_per_hour, "fixes_at_asked_gpus": [flags_text(f) for f in h.fixes],
                      "deepspeed_config": deepspeed_config(h.cost) if h.cost is not None else None} for h in hardware],
    }


def training_json(answer: TrainingAnswer) -> str:
    return json.dumps(training_doc(answer), indent=2) + "\n"


def _memory_table(cost: TrainingCost) -> Table:
    s = cost.setup
    t = Table([Column("part", "per GPU"), Column("bytes", "", "GiB"), Column("bytes", "", "GB"), Column("note", "")], main=True)
    for label, value in (("weights", cost.total("weights_bytes")), ("gradients", cost.total("gradients_bytes")),
                         ("optimizer states", cost.total("optimizer_bytes")), ("activations (saved)", cost.total("activation_bytes")),
                         ("backward working set", cost.working_bytes), ("ZeRO-3 gathered layer", cost.gather_bytes),
                         ("peak", cost.gpu_peak_bytes)):
        t.add(part=label, bytes=value)
    t.add(part="optimizer step temporaries", bytes=cost.step_temp_bytes, note=f"({s.optimizer}, {s.impl})")
    note = ""
    if s.zero >= 1:
        from planner.costs.training_step import DEEPSPEED_DEFAULTS, comm_buffer_bytes

        width = 4 if s.precision == "fp32" else 2
        ds = comm_buffer_bytes(s.zero, s.gpus, s.zero >= 2, 0, width, DEEPSPEED_DEFAULTS)
        note = f"(the config's bucket sizes; DeepSpeed's defaults would take {size_text(ds)})"
    t.add(part="communication buffers", bytes=cost.comm_bytes, note=note)
    if cost.cpu_bytes:
        t.add(part="CPU RAM per node (offload)", bytes=cost.cpu_bytes)
    return t


def training_blocks(answer: TrainingAnswer) -> list:
    profile, cost, reducers = answer.profile, answer.cost, answer.reducers
    s = cost.setup
    lora = f", LoRA rank {s.lora_rank}{' on an NF4 base (QLoRA)' if s.qlora else ''}" if s.lora_rank else ""
    offload = " + ".join(x for x, on in (("optimizer", s.offload_optimizer), ("parameters", s.offload_params)) if on)
    out: list = header_lines(profile)[:1] + [
        f"Training: {s.precision}, {s.optimizer}, ZeRO {s.zero} over {s.gpus} data-parallel GPU(s)"
        f"{f' x tp {s.tp} x pp {s.pp} (figures of stage {cost.stage})' if s.tp * s.pp > 1 else ''}"
        f"{', offload ' + offload if offload else ''}"
        f"{lora}; micro-batch {s.micro_batch} x {s.seq_len} tokens, accumulation {s.grad_accum}, checkpointing {s.checkpointing}",
        f"Trainable parameters: {cost.trainable_parameters:,}", "", _memory_table(cost)]
    out.append("Peak by phase: " + ", ".join(f"{name} {size_text(value)}" + (" (the peak)" if name == cost.peak_phase else "")
                                             for name, value in cost.phases.items()))
    if reducers:
        out.append(f"The {cost.peak_phase} phase sets the peak; lower it with any one of: "
                   + "; ".join(f"{flags_text(change)} ({size_text(peak)})" for change, peak in reducers))
    ds = deepspeed_estimate(cost)
    if ds:
        states = cost.total("weights_bytes") + cost.total("gradients_bytes") + cost.total("optimizer_bytes") + cost.gather_bytes
        out.append(f"DeepSpeed's own estimate of the model states: {size_text(ds['gpu_bytes'])} per GPU (here "
                   f"{size_text(states)}), {size_text(ds['cpu_bytes'])} CPU per node (its 1.5x buffer factor included)")
    out += ["", *hardware_lines(answer)]
    out.append(f"DeepSpeed config (the {s.gpus} GPU(s) asked): " + json.dumps(deepspeed_config(cost)))
    return out


def training_table(answer: TrainingAnswer, fmt: str = "text") -> str:
    return render(training_blocks(answer), fmt)

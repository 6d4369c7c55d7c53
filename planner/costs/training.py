"""Memory of training on one GPU of a data-parallel (ZeRO) group: weights, gradients, optimizer
states, activations, with LoRA/QLoRA and activation checkpointing.

Model states follow how DeepSpeed's engine allocates them (read from its ZeRO code and its own
estimators, `estimate_zero2/3_model_states_mem_needs`), per trainable parameter, in bytes:

    precision    weights  gradients                    optimizer (per AdamW)
    bf16-mixed   2        2 (bf16) + 4 (fp32, for the  4 master + 4 + 4 moments
                          optimizer step)
    fp32         4        4                            4 + 4 moments
    bf16 (pure)  2        2                            2 + 2 moments (bf16)

Tensor parallelism (``tp``) splits each layer's Linears as Megatron and vLLM do (column/row,
vocabulary-parallel head: planner/costs/parallel.py) and the activations of attention, MLP and
logits; pipeline parallelism (``pp``) gives each stage its layers (the first the embedding, the
last the head) and, under a 1F1B schedule, stage s keeps min(pp - s, accumulation) micro-batches
of activations; the figures are those of the fullest stage. ZeRO splits over the N data-parallel
GPUs: stage 1 the optimizer states and the fp32 gradients,
stage 2 also the bf16 gradients, stage 3 also the weights (its bf16 gradients are reduced
straight into the fp32 partition), with a gathered copy of the largest layer (its bf16 weights
and gradients: 4 bytes a parameter) on the GPU. Offloading the optimizer
moves states and fp32 gradients to CPU RAM; offloading parameters (stage 3) the weights too.
Other optimizers change the moments: 8-bit AdamW 1 + 1 byte and a 4-byte scale per 256-value
block each (fp32 moments for tensors under 4,096 values, as bitsandbytes does); SGD with momentum one; Adafactor factored second moments (rows + columns of each
matrix) and no first moment. LoRA trains rank x (in + out) adapter parameters per targeted
Linear, kept in fp32 (PEFT's default upcast): 4 + 4 + 8 bytes each, the base frozen (QLoRA:
NF4 with double quantization).

Activations saved for backward, per decoder layer with T = micro-batch x sequence tokens and d
bytes of the compute dtype: two RMSNorms keep their fp32 input and bf16 output (2 x 6 T h); sdpa
keeps q, k, v, its output and the o_proj input (5 T q_dim d, k and v expanded to every head) and
a log-sum-exp; the gated MLP keeps gate, up, act(gate) and their product (4 T i d); MoE layers
do so for the routed tokens (top_k x T), plus each routed token's gathered input and weighted
output (2 h) and the router's fp32 logits. Full checkpointing keeps only each layer's input (T h d)
and recomputes one layer at a time; selective checkpointing drops the attention part. The head
keeps bf16 logits and, for the loss, an fp32 copy and its log-softmax (T V (2 + 4 + 4)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from planner.costs.profile import Profile
from planner.costs.quant import make_scheme
from planner.costs.weights import tensor_bytes
from planner.errors import InputError
from planner.model.types import layer_indices
from planner.units import DTYPE_BITS
from planner.workload import MAX_BATCH, MAX_TOKENS

Precision = Literal["bf16-mixed", "fp32", "bf16"]
Optimizer = Literal["adamw", "adamw8bit", "sgd", "adafactor"]
OptimizerImpl = Literal["auto", "fused", "foreach", "forloop"]
Checkpointing = Literal["none", "full", "selective"]


@pydantic_dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid", use_attribute_docstrings=True))
class TrainingSetup:
    """Every training setting, defined once: the costs read it, ``--mode training``'s flags are
    generated from it (cli_options.training_params), and what-if files validate ``training:``
    against it."""

    precision: Precision = "bf16-mixed"
    """Weights/gradients/optimizer precision (bf16-mixed keeps fp32 master weights)."""
    optimizer: Optimizer = "adamw"
    """Optimizer whose states are counted."""
    optimizer_impl: OptimizerImpl = "auto"
    """How the optimizer steps: auto is what runs by default (HF Trainer: fused AdamW; DeepSpeed:
    FusedAdam; torch SGD: foreach); foreach adds one parameter-sized set of temporaries."""
    zero: int = Field(0, ge=0, le=3)
    """DeepSpeed ZeRO stage 0-3."""
    gpus: int = Field(1, ge=1, le=1_000_000)
    """Data-parallel GPUs in all (the ZeRO group)."""
    gpus_per_node: int = Field(8, ge=1, le=1024)
    """GPUs per machine."""
    offload_optimizer: bool = False
    """ZeRO optimizer offload to CPU."""
    offload_params: bool = False
    """ZeRO-3 parameter offload to CPU."""
    micro_batch: int = Field(1, ge=1, le=MAX_BATCH)
    """Sequences per GPU per step: the workload's batch (--batch, workload.batch)."""
    seq_len: int = Field(2048, ge=1, le=MAX_TOKENS)
    """Tokens per training sequence."""
    grad_accum: int = Field(1, ge=1, le=1_000_000)
    """Gradient accumulation steps."""
    checkpointing: Checkpointing = "none"
    """Activation checkpointing."""
    lora_rank: int = Field(0, ge=0, le=65_536)
    """Train LoRA adapters of this rank (0: full fine-tuning)."""
    lora_targets: tuple[str, ...] = Field((), strict=False)
    """Module names LoRA adapts (default: every Linear of the decoder layers)."""
    qlora: bool = False
    """LoRA on an NF4 base with double quantization."""
    tp: int = Field(1, ge=1, le=1024)
    """Tensor-parallel size (Megatron-style column/row splits inside each layer)."""
    pp: int = Field(1, ge=1, le=1024)
    """Pipeline stages (1F1B schedule); the figures are those of the fullest stage."""

    @property
    def impl(self) -> str:
        from planner.costs.training_step import resolved_impl

        return resolved_impl(self.optimizer, self.optimizer_impl, self.zero)

    def check(self) -> None:
        """The rules between fields (each field's own type and range is checked on construction)."""
        if self.optimizer_impl != "auto" and self.optimizer in ("adamw8bit", "adafactor"):
            raise InputError(f"optimizer-impl: {self.optimizer} has one implementation; leave --optimizer-impl at auto")
        if self.optimizer_impl == "forloop" and self.zero >= 1:
            raise InputError("optimizer-impl: DeepSpeed (ZeRO 1-3) steps with its FusedAdam (fused) or torch's AdamW "
                             "(foreach, torch_adam); choose one of those")
        if self.offload_params and self.zero != 3:
            raise InputError("offload-params: parameter offload needs ZeRO stage 3 (--zero 3)")
        if self.offload_optimizer and self.zero == 0:
            raise InputError("offload-optimizer: optimizer offload needs ZeRO stage 1, 2 or 3")
        if self.qlora and not self.lora_rank:
            raise InputError("qlora: QLoRA trains LoRA adapters; give --lora-rank (e.g. 16)")
        if self.tp & (self.tp - 1):
            raise InputError(f"tp: tensor-parallel size must be a power of two, got {self.tp}")


def _lora_target(t, targets: tuple[str, ...]) -> bool:
    """Whether LoRA adapts tensor ``t`` of a decoder layer: the Linears named in ``targets``, or by
    default every projection Linear of the layer (GPT-2's c_attn, c_fc and c_proj as much as
    llama's q_proj ... down_proj; not routers or gates)."""
    if targets:
        leaf = t.name.split(".")[-2] if "." in t.name else t.name
        return t.kind in ("linear", "expert_linear") and leaf in targets
    return t.kind == "linear" and t.quantizable


@dataclass(frozen=True)
class UnitTraining:
    name: str
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    trainable_parameters: int


@dataclass(frozen=True)
class TrainingCost:
    setup: TrainingSetup
    units: tuple[UnitTraining, ...]
    """Per GPU, after ZeRO partitioning and offload."""
    cpu_bytes: int
    """Offloaded states on each node's CPU RAM."""
    gather_bytes: int
    """ZeRO-3: the largest layer gathered whole (bf16 weights and gradients)."""
    working_bytes: int
    """Backward working set: one layer's saved activations again, for recompute or gradients."""
    trainable_parameters: int
    largest_layer_parameters: int
    stage: int = 0
    """Which pipeline stage these figures are for (the one with the highest peak)."""
    step_temp_bytes: int = 0
    """The optimizer step's temporaries (training_step.py)."""
    comm_bytes: int = 0
    """Data-parallel communication buffers and ZeRO-3 prefetched weights (training_step.py)."""
    hidden_size: int = 0
    """The model's hidden size, which sets the DeepSpeed bucket sizes printed."""

    def total(self, field: str) -> int:
        return sum(getattr(u, field) for u in self.units)

    @property
    def gradients_at_forward_end(self) -> int:
        """Plain PyTorch (no ZeRO) frees gradients after each step (``zero_grad(set_to_none=True)``),
        so they do not exist yet when the forward pass ends; DeepSpeed's buffers and gradient
        accumulation keep them."""
        s = self.setup
        return self.total("gradients_bytes") if (s.zero >= 1 or s.grad_accum > 1) else 0

    @property
    def phases(self) -> dict[str, int]:
        """Bytes on one GPU at the end of forward (every saved activation), at the end of backward
        (every gradient) and during the optimizer step (its temporaries), each with the buffers
        that live through the whole step."""
        states = self.total("weights_bytes") + self.total("optimizer_bytes") + self.comm_bytes
        return {
            "forward": states + self.gather_bytes + self.gradients_at_forward_end + self.total("activation_bytes")
            + self.working_bytes,
            "backward": states + self.gather_bytes + self.total("gradients_bytes") + self.working_bytes,
            "optimizer step": states + self.total("gradients_bytes") + self.step_temp_bytes,
        }

    @property
    def peak_phase(self) -> str:
        phases = self.phases
        return max(phases, key=phases.get)

    @property
    def gpu_peak_bytes(self) -> int:
        return max(self.phases.values())


def _state_bytes(setup: TrainingSetup, t, numel: int) -> tuple[float, float, float]:
    """(weights, gradients, optimizer) bytes per parameter of a trainable tensor, before ZeRO."""
    p = setup.precision
    w, g = {"bf16-mixed": (2, 6), "fp32": (4, 4), "bf16": (2, 2)}[p]
    state = 2 if p == "bf16" else 4
    master = 4 if p == "bf16-mixed" else 0
    rows = t.shape[0] if len(t.shape) >= 2 else numel
    cols = numel // rows if rows else 0
    moments = {
        "adamw": 2 * state,
        # bitsandbytes: uint8 moments with an fp32 absmax per 256-value block; tensors under
        # min_8bit_size (4096 values) keep fp32 moments (optim/optimizer.py, init_state)
        "adamw8bit": 8 if numel < 4096 else 2 + 8 * -(-numel // 256) / numel,
        "sgd": state,
        "adafactor": (rows + cols) * state / numel if len(t.shape) >= 2 else state,
    }[setup.optimizer]
    return w, g, master + moments


def _saved_activations(profile: Profile, unit, tokens: int, d: int, checkpointing: str, tp: int = 1,
                       seq_len: int | None = None) -> tuple[int, int]:
    """(bytes kept from forward to backward, bytes of one full layer's saved tensors). Tensor
    parallelism splits the attention, MLP and vocabulary parts; the norms' inputs are whole.
    ``seq_len`` is the training sequence length (eager attention keeps seq x seq probabilities)."""
    h = unit.hidden_size
    if unit.kind == "head":
        return tokens * h * d + tokens * profile.spec.vocab_size * (d + 8) // tp, 0
    if unit.kind != "decoder_layer" or unit.attention is None:
        return (tokens * h * d if unit.kind == "embedding" else 0), 0
    a = unit.attention
    q_dim = a.num_heads * a.v_head_dim
    kv_dim = (a.kv_lora_rank + (a.qk_rope_head_dim or 0)) if a.kv_lora_rank else a.num_kv_heads * a.head_dim
    attention = (3 * q_dim + 2 * kv_dim) * tokens * d + tokens * a.num_heads * 4
    if profile.workload.attn_implementation == "eager":  # the probabilities: softmax's fp32 output and its bf16 copy
        seq = seq_len if seq_len is not None else profile.workload.prompt_tokens
        attention += tokens * a.num_heads * seq * (4 + d)
    mlp = unit.mlp
    if mlp is not None and mlp.experts:
        routed = tokens * max(mlp.experts_per_token, 1)
        # per routed token: gate, up, act(gate), product; and its gathered input and weighted output (2 h)
        ff = (4 * mlp.intermediate + 2 * h) * routed * d + 4 * tokens * mlp.shared_intermediate * d + tokens * mlp.experts * 4
    elif mlp is not None:
        ff = (4 if mlp.gated else 2) * tokens * mlp.intermediate * d
    else:
        ff = 0
    full = 12 * tokens * h + (attention + ff) // tp
    if checkpointing == "full":
        return tokens * h * d, full
    if checkpointing == "selective":
        return full - attention // tp, full
    return full, full


def _placed(setup: TrainingSetup, numel: float, w: float, g: float, o: float) -> tuple[float, float, float, float]:
    """(weights, gradients, optimizer) bytes on one GPU and bytes on the CPU for ``numel`` trainable
    parameters, following DeepSpeed's allocation (see the module docstring)."""
    n, zero = setup.gpus, setup.zero
    mixed = setup.precision == "bf16-mixed"
    split = n if zero >= 1 else 1
    low_g, fp32_g = (2, 4) if mixed else (g, 0)
    weights = 0 if setup.offload_params else w * numel / (n if zero == 3 else 1)
    if mixed:  # bf16 gradients: whole in stages 0-1, partitioned in 2, reduced into the fp32 partition in 3
        grads = 0 if (zero == 3 or setup.offload_optimizer) else low_g * numel / (n if zero == 2 else 1)
        grads += 0 if setup.offload_optimizer else fp32_g * numel / split
    else:
        grads = 0 if setup.offload_optimizer else low_g * numel / (n if zero >= 2 else 1)
    opt = 0 if setup.offload_optimizer else o * numel / split
    cpu = 0.0
    if setup.offload_optimizer:
        cpu += (o + (fp32_g if mixed else low_g)) * numel / split
    if setup.offload_params:
        cpu += w * numel / n
    return weights, grads, opt, cpu


def _unit_rows(profile: Profile, setup: TrainingSetup) -> tuple[list[UnitTraining], list[int], float, list[list]]:
    """Per unit: states on one GPU (after tensor parallelism and ZeRO), saved activations, and
    the full layer working set; the CPU bytes of offload; and per unit the trainable tensors as
    (elements on one GPU before ZeRO, bytes per element the optimizer updates, of the weight)."""
    from planner.costs.parallel import shard_fraction

    spec = profile.spec
    bits = DTYPE_BITS[profile.dtype]
    d = bits // 8
    tokens = setup.micro_batch * setup.seq_len
    base_scheme = make_scheme("nf4", 64, True, True) if setup.qlora else None
    adapter_states = {"adamw": 8, "adamw8bit": 2 * (1 + 4 / 256), "sgd": 4, "adafactor": 4}[setup.optimizer]
    rows, fulls, cpu, updated = [], [], 0.0, []
    master, width = (4, 4) if setup.precision == "fp32" else (4 if setup.precision == "bf16-mixed" else 2, 2)
    for unit in spec.units:
        weights = grads = opt = 0.0
        trainable = 0
        mine = []
        for t in unit.tensors:
            if t.tied_to is not None:
                continue
            share = shard_fraction(t, unit, setup.tp, spec.vocab_size)
            if t.kind == "buffer":
                weights += tensor_bytes(t, bits)
                continue
            if setup.lora_rank:  # the base is frozen: its weights only (NF4 for QLoRA); adapters train in fp32
                frozen = tensor_bytes(t, bits, base_scheme, unit.tower == "vision", unit.kind == "head") * share
                if setup.offload_params:
                    cpu += frozen / setup.gpus
                else:
                    weights += frozen / (setup.gpus if setup.zero == 3 else 1)
                if unit.kind == "decoder_layer" and _lora_target(t, setup.lora_targets):
                    params = setup.lora_rank * (t.in_features + t.out_features) * t.experts
                    trainable += params
                    mine.append((params, 4, 4))
                    pw, pg, po, pc = _placed(setup, params, 4, 4, adapter_states)
                    weights, grads, opt, cpu = weights + pw, grads + pg, opt + po, cpu + pc
                continue
            numel = t.numel * share
            trainable += t.numel  # the model's count; the bytes below are one rank's share
            mine.append((int(numel), master, width))
            pw, pg, po, pc = _placed(setup, numel, *_state_bytes(setup, t, t.numel))
            weights, grads, opt, cpu = weights + pw, grads + pg, opt + po, cpu + pc
        kept, full = _saved_activations(profile, unit, tokens, d, setup.checkpointing, setup.tp, setup.seq_len)
        rows.append(UnitTraining(unit.name, int(weights), int(grads), int(opt), int(kept), trainable))
        fulls.append(full)
        updated.append(mine)
    return rows, fulls, cpu, updated


def _step_extras(setup: TrainingSetup, tensors: list[tuple[int, int, int]], stage_largest: int, hidden: int) -> tuple[int, int]:
    """(optimizer step temporaries, communication buffers) on one GPU for a stage's trainable
    ``tensors`` (training_step.py)."""
    from planner.costs.training_step import comm_buffer_bytes, deepspeed_buckets, prefetch_bytes, step_temporaries

    if setup.offload_optimizer:  # DeepSpeedCPUAdam steps on the CPU
        updated = []
    elif setup.zero >= 1:  # one flat fp32 partition per parameter group
        updated = [(-(-sum(n for n, _, _ in tensors) // setup.gpus), max(w for _, w, _ in tensors))] if tensors else []
    else:
        updated = [(n, w) for n, w, _ in tensors]
    temps = step_temporaries(setup.optimizer, setup.impl, updated)
    buckets = deepspeed_buckets(hidden)
    grad_copy = sum(n * g for n, _, g in tensors)
    gradient_width = 4 if setup.precision == "fp32" else 2
    comm = comm_buffer_bytes(setup.zero, setup.gpus, setup.zero >= 2, grad_copy, gradient_width, buckets)
    if setup.zero == 3:
        comm += prefetch_bytes(stage_largest // setup.tp, buckets)
    return temps, comm


def _stages(profile: Profile, pp: int) -> list[list[int]]:
    """Unit indices of each pipeline stage: layers split as vLLM/Megatron do by default, the
    rest by the one stage rule (parallel.stage_of_units: the embedding and a vision tower on the
    first stage, the norm and head on the last)."""
    from planner.costs.parallel import pp_partition, stage_of_units

    units = profile.spec.units
    layers = len(layer_indices(units))
    out: list[list[int]] = [[] for _ in range(pp)]
    for i, stage in enumerate(stage_of_units(units, pp_partition(layers, pp))):
        out[stage].append(i)
    return out


def training_cost(profile: Profile, setup: TrainingSetup) -> TrainingCost:
    setup.check()
    from planner.costs.parallel import tp_problem

    problem = tp_problem(profile.spec.units, setup.tp, profile.spec.decoder_layers)
    if problem:
        raise InputError(f"tp: {problem}")
    rows, fulls, cpu, updated = _unit_rows(profile, setup)
    trainable_total = sum(r.trainable_parameters for r in rows)
    if setup.lora_rank and not trainable_total:
        names = sorted({t.name.split(".")[-2] for i in profile.spec.decoder_layers for t in profile.spec.units[i].tensors
                        if t.kind in ("linear", "expert_linear") and "." in t.name})
        raise InputError(f"lora-targets: {', '.join(setup.lora_targets)} match no Linear of the layers; choose from "
                         f"{', '.join(names)}")
    largest = max(u.parameters for u in profile.spec.units)
    per_node = int(cpu * min(setup.gpus, setup.gpus_per_node))
    best = None
    for s, idx in enumerate(_stages(profile, setup.pp)):
        in_flight = min(setup.pp - s, setup.grad_accum) if setup.pp > 1 else 1  # 1F1B keeps this many micro-batches
        units = tuple(rows[i] if in_flight == 1 else UnitTraining(rows[i].name, rows[i].weights_bytes, rows[i].gradients_bytes,
                      rows[i].optimizer_bytes, rows[i].activation_bytes * in_flight, rows[i].trainable_parameters) for i in idx)
        stage_largest = max(profile.spec.units[i].parameters for i in idx)
        gather = 4 * stage_largest // setup.tp if setup.zero == 3 else 0
        temps, comm = _step_extras(setup, [t for i in idx for t in updated[i]], stage_largest, profile.spec.hidden_size)
        cost = TrainingCost(setup, units, per_node // setup.pp, gather, max(fulls[i] for i in idx), trainable_total, largest, s,
                            temps, comm, profile.spec.hidden_size)
        if best is None or cost.gpu_peak_bytes > best.gpu_peak_bytes:
            best = cost
    return best

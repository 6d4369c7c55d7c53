"""A sizing answer as the commands that start it with vLLM. Formats only."""

from __future__ import annotations

from planner.costs.parallel import pp_partition
from planner.costs.profile import Profile
from planner.solve.sizing_units import Candidate

_QUANT_FLAG = {"fp8": "fp8", "int8": "bitsandbytes", "nf4": "bitsandbytes", "fp4": "bitsandbytes", "gptq": "gptq", "awq": "awq"}
# int4 (compressed-tensors) and fp8-block checkpoints are recognised by vLLM from their config: no flag.
_DTYPE = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def vllm_dtype(dtype: str, gpus) -> str:
    """vLLM's --dtype: bf16 becomes float16 on cards without bf16 (T4, V100), same bytes."""
    return "float16" if dtype == "bf16" and not all(g.bf16_supported for g in gpus) else _DTYPE[dtype]


def model_reference(model: str, profile: Profile) -> str:
    """What a tool is given to load the model: its Hub repo id (a catalog alias names none), else
    the path the user typed."""
    return profile.spec.repo_id or model


def serve_args(model: str, profile: Profile, c: Candidate, context: int) -> list[str]:
    args = ["vllm", "serve", model_reference(model, profile)]
    if profile.spec.revision:
        args += ["--revision", profile.spec.revision]
    args += ["--tensor-parallel-size", str(c.layout.tp), "--pipeline-parallel-size", str(c.layout.pp),
            "--max-model-len", str(context), "--gpu-memory-utilization", f"{c.layout.utilization:g}",
            "--max-num-seqs", str(c.seqs), "--dtype", vllm_dtype(profile.dtype, [c.gpu])]
    if profile.kv_dtype == "fp8":
        args += ["--kv-cache-dtype", "fp8"]
    quant = profile.workload.quant
    if quant in _QUANT_FLAG:
        args += ["--quantization", _QUANT_FLAG[quant]]
    return args


def partition_env(partition) -> dict[str, str]:
    """VLLM_PP_LAYER_PARTITION when a partition differs from the one vLLM would pick itself."""
    parts = list(partition)
    if len(parts) > 1 and parts != pp_partition(sum(parts), len(parts)):
        return {"VLLM_PP_LAYER_PARTITION": ",".join(map(str, parts))}
    return {}


def layer_partition_env(c: Candidate) -> dict[str, str]:
    return partition_env(c.layout.partition)


def launch_steps(model: str, profile: Profile, c: Candidate, context: int) -> list[str]:
    """Shell lines to start one replica; several hosts go through a Ray cluster, as vLLM's docs describe."""
    env = " ".join(f"{k}={v}" for k, v in layer_partition_env(c).items())
    cmd = " ".join(serve_args(model, profile, c, context))
    if c.hosts == 1 and c.replicas == 1:
        return [f"{env} {cmd}".strip()]
    if c.hosts == 1:
        g = c.layout.gpus
        return [f"# {c.replicas} replicas on one {c.offer.name}, each on its own GPUs and port"] + [
            f"CUDA_VISIBLE_DEVICES={','.join(str(i) for i in range(r * g, (r + 1) * g))} {env} {cmd} --port {8000 + r}"
            .replace("  ", " ") for r in range(c.replicas)]
    per_host = (c.offer.slots // c.layout.tp) * c.layout.tp
    return [
        f"# {c.hosts} hosts ({c.offer.name}), {per_host} {c.gpu.name} of each in the replica; tensor parallel groups stay inside a host",
        "# on the head node:",
        "ray start --head --port=6379",
        f"# on each of the other {c.hosts - 1} hosts:",
        "ray start --address=HEAD_NODE_IP:6379",
        "# then on the head node:",
        f"{env} {cmd} --distributed-executor-backend ray".strip(),
    ]

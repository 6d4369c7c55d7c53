"""A sizing answer as the commands that start it with vLLM. Formats only: which quantization flag
the model needs, or that it needs a quantized checkpoint, is the engine's rule (engines/vllm_rules.py),
read from the profile's EngineLoad."""

from __future__ import annotations

import json
import shlex

from planner.costs.parallel import pp_partition
from planner.costs.profile import Profile
from planner.sizing.candidates import Candidate
from planner.units import TORCH_DTYPE_NAMES


def vllm_dtype(dtype: str, gpus) -> str:
    """vLLM's --dtype: bf16 becomes float16 on cards without bf16 (T4, V100), same bytes."""
    return "float16" if dtype == "bf16" and not all(g.bf16_supported for g in gpus) else TORCH_DTYPE_NAMES[dtype]


def model_reference(model: str, profile: Profile) -> str:
    """What a tool is given to load the model: its Hub repo id (a catalog alias names none), else
    the path the user typed."""
    return profile.spec.repo_id or model


def engine_flags(profile: Profile, gpus) -> list[str]:
    """The flags that make vLLM hold what the profile sized: dtype, KV dtype, quantization and,
    for a model with a vision tower, how many images a prompt may carry."""
    words = ["--dtype", vllm_dtype(profile.dtype, gpus)]
    if profile.kv_dtype == "fp8":
        words += ["--kv-cache-dtype", "fp8"]
    if profile.load is not None and profile.load.flag:
        words += ["--quantization", profile.load.flag]
    if any(u.tower == "vision" for u in profile.spec.units):
        words += ["--limit-mm-per-prompt", json.dumps({"image": profile.workload.images})]
    return words


def serve_words(model: str, profile: Profile, tp: int, pp: int, context: int, utilization: float, seqs: int,
                gpus) -> list[str]:
    """``vllm serve MODEL`` and its flags, as separate words."""
    words = ["vllm", "serve", model_reference(model, profile)]
    if profile.spec.revision:
        words += ["--revision", profile.spec.revision]
    words += ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(pp), "--max-model-len", str(context),
              "--gpu-memory-utilization", f"{utilization:g}", "--max-num-seqs", str(seqs)]
    return words + engine_flags(profile, gpus)


def needs_checkpoint(profile: Profile) -> str | None:
    """Why no command can serve the model named: vLLM needs a checkpoint quantized as sized."""
    return profile.load.needs_checkpoint if profile.load is not None else None


def command_lines(words: list[str], profile: Profile) -> list[str]:
    """The command, or, when vLLM needs another checkpoint, what it needs and the flags to serve it with."""
    why = needs_checkpoint(profile)
    if why is None:
        return [shlex.join(words)]
    return [f"# serve {why.split(':')[0]} (vLLM reads its method from the checkpoint) with: {shlex.join(words[3:])}"]


def serve_args(model: str, profile: Profile, c: Candidate, context: int) -> list[str]:
    return serve_words(model, profile, c.layout.tp, c.layout.pp, context, c.layout.utilization, c.seqs, [c.gpu])


def serve_command(model: str, profile: Profile, c: Candidate, context: int) -> str | None:
    """The ``vllm serve`` line of a candidate, or None when vLLM needs another checkpoint."""
    return None if needs_checkpoint(profile) else shlex.join(serve_args(model, profile, c, context))


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
    words = serve_args(model, profile, c, context)
    if needs_checkpoint(profile):
        return command_lines(words, profile)
    cmd = shlex.join(words)
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

"""One what-if row per answer: the figures of a point's answer as a flat dict (bytes, counts,
prices), the same whatever the task. Formats only; nothing here computes a plan or a profile."""

from __future__ import annotations

from planner.answers.compress import CompressionAnswer
from planner.answers.estimate import Estimate
from planner.answers.llamacpp import LlamaCppAnswer
from planner.answers.size import CapacityAnswer, ClusterAnswer, ServingAnswer, WorkloadAnswer
from planner.answers.train import TrainingAnswer
from planner.hardware.prices import hourly_total


def plan_row(plan) -> dict:
    used = [(d, dev) for d, dev in zip(plan.devices, plan.problem.devices, strict=True) if d.kind == "gpu" and d.load.total_bytes]
    return {
        "status": plan.status, "fits": plan.fits, "gpus_used": len(used),
        "price_usd": sum(dev.price_usd or 0 for _, dev in used) or None,
        "price_usd_per_hour": hourly_total(dev.price_usd_per_hour for _, dev in used),
        "weights_bytes": sum(d.load.weights_bytes for d in plan.devices),
        "kv_bytes": sum(d.load.kv_bytes for d in plan.devices),
        "activation_bytes": max((d.load.activation_bytes for d in plan.devices), default=0),
        "reserve_bytes": sum(d.load.reserve_bytes for d in plan.devices),
        "offload_bytes": plan.offload_bytes,
        "headroom_bytes": min((d.free_bytes for d, _ in used), default=None),
    }


def unplaced_row(plan, reason: str) -> dict:
    """A plan without a placement: its status and why (``answers.plan.shortfall_reason``)."""
    return {"status": plan.status, "fits": plan.fits, "reason": reason}


def _serving_row(answer: ServingAnswer) -> dict:
    sizing, bill = answer.sizing, answer.bill
    if not answer.fits:
        return {"status": sizing.status, "fits": answer.fits, "reason": answer.reason}
    return {
        "status": sizing.status, "fits": answer.fits, "gpus_used": bill.gpus,
        "layout": " + ".join(f"{n * c.hosts} x {c.offer.name} {c.gpu.name} tp{c.layout.tp} pp{c.layout.pp}"
                             for c, n in sizing.choice),
        "price_usd": bill.purchase_usd if sizing.objective != "hourly" else None,
        "price_usd_per_hour": bill.usd_per_hour if sizing.objective == "hourly" else None,
        "weights_bytes": answer.profile.weights_bytes, "kv_tokens": min(c.layout.kv_tokens for c, _ in sizing.choice),
        "tokens_per_s": round(bill.tokens_per_s, 1),
    }


def _cluster_row(answer: ClusterAnswer) -> dict:
    best = answer.best
    if best is None:
        return {"status": answer.status, "fits": False, "reason": answer.reason}
    return {
        "status": answer.status, "fits": answer.fits, "gpus_used": best.gpus,
        "layout": f"tp{best.tp} pp{len(best.stages)} partition {','.join(map(str, best.partition))}",
        "weights_bytes": answer.profile.weights_bytes, "kv_tokens": best.kv_tokens, "reason": answer.reason,
    }


def _capacity_row(answer: CapacityAnswer) -> dict:
    first = answer.rows[0] if answer.rows else None
    row = {"status": "ok", "fits": answer.fits, "gpus_used": answer.count}
    if first is not None and first.profile is not None:
        row["weights_bytes"] = first.profile.weights_bytes
        row["longest_context"] = first.longest[0] if first.longest else None
        row["most_sequences"] = first.most[0] if first.most else None
    return row


def _workload_row(answer: WorkloadAnswer) -> dict:
    best = answer.best
    if best is None:
        return {"status": "infeasible", "fits": False, "reason": f"no GPU type runs this {answer.mode} job"}
    return {"status": "ok", "fits": True, "gpus_used": best.count, "layout": f"{best.count} x {best.gpu.name}",
            "price_usd": best.price_usd, "price_usd_per_hour": best.price_usd_per_hour, "peak_bytes": best.gpu_peak_bytes}


def training_row(answer: TrainingAnswer, gpu=None) -> dict:
    """A training step's memory; with ``gpu`` (an inventory Device), whether it fits there."""
    from planner.units import size_text

    cost = answer.cost
    row = {"status": "ok", "weights_bytes": cost.total("weights_bytes"), "gradients_bytes": cost.total("gradients_bytes"),
           "optimizer_bytes": cost.total("optimizer_bytes"), "activation_bytes": cost.total("activation_bytes"),
           "peak_bytes": cost.gpu_peak_bytes, "fits": None}
    if gpu is not None:
        room = gpu.usable_bytes
        row["fits"] = cost.gpu_peak_bytes <= room
        row["headroom_bytes"] = room - cost.gpu_peak_bytes
        if not row["fits"]:
            row["reason"] = f"needs {size_text(cost.gpu_peak_bytes)} per GPU, {size_text(room)} usable"
    return row


def _estimate_row(answer: Estimate) -> dict:
    prof = answer.profile
    return {"status": "ok", "fits": None, "weights_bytes": prof.weights_bytes, "kv_bytes": prof.kv_bytes,
            "activation_bytes": prof.activation_peak_bytes, "total_bytes": prof.total_bytes}


def _compression_row(answer: CompressionAnswer) -> dict:
    return {"status": "ok", "fits": None, "weights_bytes": answer.profile.weights_bytes,
            "peak_bytes": answer.cost.gpu_peak_bytes}


def _llamacpp_row(answer: LlamaCppAnswer) -> dict:
    gpus = [d for d in answer.devices if d.device.startswith("GPU") and d.total]
    row = {"status": "ok" if answer.fits is None else "optimal" if answer.proven else "feasible", "fits": answer.fits,
           "weights_bytes": sum(d.weights for d in answer.devices), "kv_bytes": sum(d.kv for d in answer.devices),
           "compute_bytes": sum(d.compute for d in answer.devices)}
    if answer.server_args:
        row.update(gpus_used=len(gpus), ngl=answer.ngl, experts_on_cpu=len(answer.experts_on_cpu),
                   host_read_bytes=answer.host_read_bytes, tokens_per_s=answer.tokens_per_s,
                   headroom_bytes=min((d.capacity - d.total for d in gpus if d.capacity), default=None))
    return row


def row_of(answer) -> dict:
    """The row of any answer but a Plan (``plan_row``, ``unplaced_row``)."""
    for kind, render in ((ServingAnswer, _serving_row), (ClusterAnswer, _cluster_row), (CapacityAnswer, _capacity_row),
                         (WorkloadAnswer, _workload_row), (TrainingAnswer, training_row), (Estimate, _estimate_row),
                         (CompressionAnswer, _compression_row), (LlamaCppAnswer, _llamacpp_row)):
        if isinstance(answer, kind):
            return render(answer)
    raise TypeError(f"no row for {type(answer).__name__}")

"""``planner plan``: the best device_map for a model, a workload and the devices at hand."""

from __future__ import annotations

import click

from planner.cli.options import (
    format_options,
    make_workload,
    output_format,
    revision_option,
    workload_fields,
    workload_options,
)


def _pins(values: tuple[str, ...]) -> dict[str, str]:
    from planner.errors import InputError

    out = {}
    for text in values:
        prefix, sep, device = text.partition("=")
        if not sep or not prefix.strip() or not device.strip():
            raise InputError(f"pin: {text!r} is not MODULE=DEVICE; write e.g. --pin model.visual=0 or --pin lm_head=cpu")
        if prefix.strip() in out and out[prefix.strip()] != device.strip():
            raise InputError(f"pin: {prefix.strip()} is pinned twice ({out[prefix.strip()]} and {device.strip()}); keep one")
        out[prefix.strip()] = device.strip()
    return out


@click.command("plan")
@click.argument("model", required=False)
@click.option("--file", "scenario_file", type=click.Path(dir_okay=False), help="Read model, workload and inventory from a YAML "
              "scenario; flags given here override it.")
@workload_options
@click.option("--gpu", "gpus", multiple=True, help="GPUs: catalog type or size, with a count: 2xA100-80GB, RTX4090, 24GiB (repeatable).")
@click.option("--cpu", default=None, help="CPU RAM the model may use for offload, e.g. 256GiB.")
@click.option("--disk", default=None, help="Disk space for offloaded weights, e.g. 1TiB (no disk offload unless given).")
@click.option("--max-memory", default=None, help="accelerate's max_memory: 0=24GiB,1=12GiB,cpu=200GiB (GiB = 2^30, GB = 10^9).")
@click.option("--reserve", default=None, help="Per-GPU reserve [default: CUDA context + 2% fragmentation].")
@click.option("--disk-gb-per-s", "--disk-gbps", "disk_gb_per_s", type=float, default=None, help="Disk read bandwidth in GB/s [default: 2].")
@click.option("--price", "prices", multiple=True, help="Your price for a GPU type: RTX4090=1600 or H100=2.10/h (repeatable).")
@click.option("--objective", type=click.Choice(["gpus", "price", "hourly", "balance", "cost"]), default=None,
              help="After least offload: fewest GPUs, lowest purchase price, lowest hourly price (the names size "
                   "uses), or even load on all GPUs; cost is the hourly price when every GPU has one, else the "
                   "purchase price [default: gpus].")
@click.option("--pin", "pins", multiple=True, help="Keep a module on a device: model.visual=0, lm_head=cpu (repeatable).")
@click.option("--weights-only", is_flag=True, default=None, help="Count weights only, no KV/activations/reserve (as accelerate).")
@click.option("--time-limit", type=float, default=None, help="Solver time limit in seconds [default: 1].")
@click.option("--offload-folder", default=None, help="Folder for disk-offloaded weights [default: offload].")
@click.option("--device-map-out", type=click.Path(dir_okay=False), help="Also write device_map, max_memory and offload_folder "
              "to this JSON file (atomically; same plan, same bytes; '-' prints it alone on stdout).")
@format_options
@revision_option
@click.pass_context
def plan(ctx, model, scenario_file, gpus, cpu, disk, max_memory, reserve, disk_gb_per_s, prices, objective, pins, weights_only, time_limit,
         offload_folder, device_map_out, fmt, as_json, revision, **kwargs):
    """Place MODEL's layers on GPUs, CPU and disk: the optimal device_map, proven, with the memory per device."""
    import json

    from planner.answers.inputs import inventory_of, model_spec
    from planner.answers.plan import plan as run_plan
    from planner.costs.profile import profile
    from planner.errors import InputError
    from planner.export.plan_report import device_map_document, plan_json, plan_table
    from planner.files import check_output, write_atomic
    from planner.scenario import InventorySpec, Scenario, load_scenario

    check_output(device_map_out, "--device-map-out")
    if scenario_file:
        sc = load_scenario(scenario_file)
        workload = make_workload(sc.workload, **workload_fields(kwargs, only_explicit=True))
    else:
        if not model:
            raise InputError("model: give a MODEL (catalog name, config.json or safetensors) or --file scenario.yaml")
        sc = Scenario(model=model, inventory=InventorySpec())
        workload = make_workload(**workload_fields(kwargs))
    if workload.mode != "inference":
        raise InputError(f"workload.mode: plan places a model for inference; for {workload.mode} use "
                         f"planner estimate --mode {workload.mode} or planner size --mode {workload.mode}")
    inventory = inventory_of(sc.inventory, gpus=tuple(gpus), cpu=cpu, disk=disk, max_memory=max_memory, reserve=reserve,
                             disk_gb_per_s=disk_gb_per_s, prices=tuple(prices))
    if time_limit is not None and not 0 < time_limit <= 600:
        raise InputError(f"time-limit: must be more than 0 and at most 600 seconds, got {time_limit}")
    fmt = output_format(fmt, as_json)
    result = run_plan(
        profile(model_spec(model or sc.model, revision), workload), inventory, objective or sc.objective,
        _pins(pins) if pins else sc.pins, weights_only if weights_only is not None else sc.weights_only,
        time_limit or sc.time_limit_s, offload_folder or sc.offload_folder)
    if device_map_out and result.status in ("optimal", "feasible"):
        write_atomic(device_map_out, json.dumps(device_map_document(result), indent=2) + "\n", "--device-map-out")
    if device_map_out != "-":  # '-': the document alone is the output
        click.echo(plan_json(result) if fmt == "json" else plan_table(result, fmt), nl=fmt == "text")
    if not result.fits:  # infeasible, or not decided within the time limit
        ctx.exit(3)

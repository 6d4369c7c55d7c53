"""``planner plan``: the best device_map for a model, a workload and the devices at hand."""

from __future__ import annotations

import click

from planner.cli.complete import complete_gpu, complete_model
from planner.cli.options import format_options, output_format, revision_option, workload_options
from planner.objectives import PLAN_OBJECTIVES


@click.command("plan")
@click.argument("model", required=False, shell_complete=complete_model)
@click.option("--file", "scenario_file", type=click.Path(dir_okay=False), help="Read model, workload and inventory from a YAML "
              "scenario; flags given here override it.")
@workload_options
@click.option("--gpu", "gpus", multiple=True, shell_complete=complete_gpu, help="GPUs: catalog type or size, with a count: 2xA100-80GB, RTX4090, 24GiB (repeatable).")
@click.option("--cpu", default=None, help="CPU RAM the model may use for offload, e.g. 256GiB.")
@click.option("--disk", default=None, help="Disk space for offloaded weights, e.g. 1TiB (no disk offload unless given).")
@click.option("--max-memory", default=None, help="accelerate's max_memory: 0=24GiB,1=12GiB,cpu=200GiB (GiB = 2^30, GB = 10^9).")
@click.option("--reserve", default=None, help="Per-GPU reserve [default: CUDA context + 2% fragmentation].")
@click.option("--disk-gb-per-s", "--disk-gbps", "disk_gb_per_s", type=float, default=None, help="Disk read bandwidth in GB/s [default: 2].")
@click.option("--islands", default=None, help="GPUs joined by a fast link (NVLink bridges, NVSwitch, one PCIe switch), "
              "islands split by ';': 0,2;1,3. Consecutive parts of the model then go to GPUs of one island first.")
@click.option("--island-link", default=None, help="The link inside an island, a gpu_links kind of catalogs/speed_model.yaml "
              "(nvlink3 for bridged RTX 3090s) [default: the GPU type's own interconnect].")
@click.option("--price", "prices", multiple=True, help="Your price for a GPU type: RTX4090=1600 or H100=2.10/h (repeatable).")
@click.option("--objective", type=click.Choice(PLAN_OBJECTIVES), default=None,
              help="After least offload: fewest GPUs, lowest purchase price, lowest hourly price (the names size "
                   "uses), or even load on all GPUs; cost is the hourly price when every GPU has one, else the "
                   "purchase price [default: gpus].")
@click.option("--pin", "pins", multiple=True, help="Keep a module on a device: model.visual=0, lm_head=cpu (repeatable).")
@click.option("--weights-only", is_flag=True, default=None, help="Count weights only, no KV/activations/reserve (as accelerate).")
@click.option("--time-limit", type=float, default=None, help="Solver time limit in seconds [default: 1].")
@click.option("--offload-folder", default=None, help="Folder for disk-offloaded weights [default: offload].")
@click.option("--device-map-out", type=click.Path(dir_okay=False), help="Also write device_map, max_memory and offload_folder "
              "to this JSON file (atomically; same plan, same bytes; '-' prints it alone on stdout).")
@click.option("--explain", "explain", multiple=True, metavar="UNIT", help="Say why UNIT (a module of the device_map, e.g. "
              "model.layers.40) sits where it does: each other device, the rule it breaks there or the objective it "
              "worsens (repeatable).")
@click.option("--html", "html_out", type=click.Path(dir_okay=False), help="Also write an interactive, self-contained HTML "
              "report (memory per device, the layer map, sortable tables; works offline) to this file.")
@click.option("--timings", is_flag=True, help="Add the solver's wall-clock seconds to the JSON (left out by default, so "
              "the same input gives the same bytes).")
@format_options
@revision_option
@click.pass_context
def plan(ctx, device_map_out, explain, html_out, timings, fmt, as_json, **params):
    """Place MODEL's layers on GPUs, CPU and disk: the optimal device_map, proven, with the memory per device."""
    import json

    from planner.answers.answer import answer_plan, exit_status
    from planner.api import plan_request
    from planner.cli.render import render_answer
    from planner.export.plan_report import device_map_document
    from planner.files import check_output, write_atomic

    check_output(device_map_out, "--device-map-out")
    check_output(html_out, "--html")
    typed = {name for name in params if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE}
    result = answer_plan(plan_request(**params, explicit=typed))
    if device_map_out and result.status in ("optimal", "feasible"):
        write_atomic(device_map_out, json.dumps(device_map_document(result), indent=2) + "\n", "--device-map-out")
    explained = _explain(result, explain)
    if html_out:
        from planner.export.html_pages import llamacpp_html, plan_html

        write_atomic(html_out, llamacpp_html(result) if _is_split(result) else plan_html(result), "--html")
    if device_map_out != "-":  # '-': the document alone is the output
        if explained and output_format(fmt, as_json) == "json":
            from planner.export.plan_report import plan_json

            doc = json.loads(plan_json(result, timings))
            doc["explain"] = [{"unit": e.unit, "moves_with": list(e.item_names), "device": e.device,
                               "elsewhere": [{"device": d, "why_not": why} for d, why in e.reasons]} for e in explained]
            click.echo(json.dumps(doc, indent=2))
        else:
            render_answer(result, output_format(fmt, as_json), timings)
            for e in explained:
                click.echo(f"\nWhy {e.unit} is on {e.device}" + (f" (with {', '.join(n for n in e.item_names if n != e.unit)})"
                                                                 if len(e.item_names) > 1 else "") + ":")
                for device, why in e.reasons:
                    click.echo(f"  not {device}: {why}")
    ctx.exit(exit_status(result))


def _explain(result, units):
    """The explanations asked for (placement/explain), or none; a GGUF split explains nothing yet."""
    if not units:
        return []
    from planner.answers.explain import explain
    from planner.errors import InputError

    if _is_split(result):
        raise InputError("explain: --explain reads a transformers device_map plan; a llama.cpp split is whole layers by -ngl/-ts")
    return [explain(result, unit) for unit in units]


def _is_split(result) -> bool:
    """A GGUF model's llama.cpp split rather than a transformers device_map plan."""
    from planner.answers.llamacpp import LlamaCppAnswer

    return isinstance(result, LlamaCppAnswer)

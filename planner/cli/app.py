"""The ``planner`` command. Heavy modules are imported inside commands so ``--help`` stays instant.

Errors the user can fix print one line, ``Error: ...``, and exit with the error's code (2 for
bad input); nothing prints a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

import click

from planner.cli.options import (
    check_mode_flags,
    format_options,
    make_workload,
    output_format,
    revision_option,
    workload_fields,
    workload_options,
)
from planner.cli.settings import settings_command, settings_from_flags

_DEBUG = {"on": bool(os.environ.get("PLANNER_DEBUG"))}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="planner")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an internal error (or set PLANNER_DEBUG=1).")
def cli(debug: bool) -> None:
    """Fit big neural networks onto GPUs: exact memory per layer, optimal device_maps, GPUs to buy, what-if sweeps."""
    _DEBUG["on"] = _DEBUG["on"] or debug


@cli.command(cls=settings_command())
@click.argument("model")
@click.option("--mode", type=click.Choice(["inference", "training", "compression"]), default="inference", show_default=True,
              help="What runs: inference, training (DeepSpeed ZeRO, LoRA), or one-shot compression with llm-compressor.")
@workload_options
@click.option("--seq-len", type=int, default=2048, show_default=True,
              help="Tokens per sequence: the training sequence or each calibration sample (--mode training, compression).")
@click.option("--gpu", "gpus", multiple=True, help="Also say how many of this catalog GPU type it needs, which "
              "compression settings fit it, or how many it takes to train (repeatable).")
@format_options
@revision_option
def estimate(model, mode, seq_len, gpus, fmt, as_json, revision, **kwargs):
    """Exact memory of MODEL (catalog name, Hub repo id, config.json, or safetensors file/folder) for inference, training
    or compression."""
    from planner.answers.inputs import model_spec
    from planner.catalog import find_gpu
    from planner.costs.profile import profile

    check_mode_flags(mode)
    fmt = output_format(fmt, as_json)
    w = make_workload(mode=mode, **workload_fields(kwargs))
    gpu_types = [find_gpu(g) for g in gpus]
    prof = profile(model_spec(model, revision), w)
    if mode == "training":
        from planner.answers.train import train
        from planner.export.training_report import training_json, training_table

        answer = train(prof, settings_from_flags("training", kwargs, micro_batch=w.batch, seq_len=seq_len), gpu_types)
        click.echo(training_json(answer) if fmt == "json" else training_table(answer, fmt), nl=fmt == "text")
    elif mode == "compression":
        from planner.answers.compress import compress
        from planner.export.compression_report import compression_json, compression_table

        answer = compress(model, prof, settings_from_flags("compression", kwargs, seq_len=seq_len), gpu_types)
        click.echo(compression_json(answer) if fmt == "json" else compression_table(answer, fmt), nl=fmt == "text")
    else:
        from planner.answers.estimate import estimate as run_estimate
        from planner.export.report import estimate_json, estimate_table

        answer = run_estimate(prof, gpu_types)
        click.echo(estimate_json(prof) if fmt == "json" else estimate_table(answer, fmt), nl=fmt == "text")


@cli.group()
def catalog() -> None:
    """List the bundled catalogs."""


@catalog.command("gpus")
@format_options
def catalog_gpus(fmt, as_json):
    """GPU types: memory as the driver reports it, bandwidth, TFLOPs, prices."""
    import json

    from planner.catalog import gpu_types
    from planner.export.table import Column, Table, render

    rows = gpu_types()
    if output_format(fmt, as_json) == "json":
        click.echo(json.dumps([{
            "name": g.name, "memory_bytes": g.memory_bytes, "hbm_gb_per_s": g.hbm_gb_per_s,
            "bf16_tflops": g.bf16_tflops, "fp8_tflops": g.fp8_tflops, "interconnect": g.interconnect,
            "interconnect_gb_per_s": g.interconnect_gb_per_s, "price_usd": g.price_usd, "price_usd_per_hour": g.price_usd_per_hour,
            "board_power_w": g.board_power_w, "aliases": list(g.aliases), "sources": g.sources} for g in rows], indent=2))
        return
    t = Table([Column("name", "name"), Column("memory_bytes", "memory", "GiB"), Column("memory_bytes", "memory", "GB"),
               Column("hbm_gb_per_s", "HBM GB/s", "rate"), Column("bf16_tflops", "bf16 TF", "rate"),
               Column("interconnect", "link"), Column("interconnect_gb_per_s", "link GB/s", "rate"),
               Column("price_usd", "buy USD", "usd"), Column("price_usd_per_hour", "USD/h", "usd_per_hour"),
               Column("board_power_w", "power W", "watts")], main=True)
    for g in rows:
        t.add(name=g.name, memory_bytes=g.memory_bytes, hbm_gb_per_s=g.hbm_gb_per_s, bf16_tflops=g.bf16_tflops,
              interconnect=g.interconnect, interconnect_gb_per_s=g.interconnect_gb_per_s, price_usd=g.price_usd or None,
              price_usd_per_hour=g.price_usd_per_hour or None, board_power_w=g.board_power_w)
    click.echo(render([t], fmt), nl=fmt == "text")


@catalog.command("hosts")
@format_options
def catalog_hosts(fmt, as_json):
    """Hosts GPUs are bought in (price, power, rack units without GPUs) and instances they rent as."""
    import json

    from planner.export.table import Column, Table, render
    from planner.hardware.hosts import host_offers, instance_offers

    hosts: dict[str, dict] = {}
    for o in host_offers():
        row = hosts.setdefault(o.name, {"name": o.name, "form": o.form, "gpus": [], "slots": o.slots, "fixed": o.fixed,
                                        "price_usd": o.host_price_usd, "power_w": o.host_power_w, "rack_units": o.rack_units,
                                        "ram_gib": o.ram_gib, "nic_bytes_per_s": o.nic_bytes_per_s, "link": o.link,
                                        "network": o.network, "sources": o.sources})
        row["gpus"].append(o.gpu.name)
    rents = [{"name": o.name, "provider": o.provider, "gpu": o.gpu.name, "gpus": o.slots, "usd_per_hour": o.usd_per_hour,
              "link": o.link, "network": o.network, "source": o.sources.get("price", "")} for o in instance_offers()]
    if output_format(fmt, as_json) == "json":
        click.echo(json.dumps({"hosts": list(hosts.values()), "instances": rents}, indent=2))
        return
    h = Table([Column("name", "host"), Column("form", "form"), Column("slots", "slots", "count"),
               Column("price_usd", "USD without GPUs", "usd"), Column("power_w", "power W", "watts"),
               Column("rack_units", "U", "count"), Column("link", "GPU link"), Column("network", "network"),
               Column("gpus", "GPU types")], main=True, title="Hosts (bought whole; GPUs priced apart):")
    for row in hosts.values():
        h.add(**{**row, "gpus": ", ".join(row["gpus"])})
    r = Table([Column("name", "instance"), Column("provider", "provider"), Column("gpu", "GPU"), Column("gpus", "GPUs", "count"),
               Column("usd_per_hour", "USD/h", "usd_per_hour"), Column("link", "GPU link")], rents,
              title="Instances (rented whole; the rate includes the host):")
    click.echo(render([h, "", r], fmt), nl=fmt == "text")


@catalog.command("models")
@format_options
def catalog_models(fmt, as_json):
    """Bundled model configs (real config.json files)."""
    import json

    from planner.catalog import model_names
    from planner.export.table import Column, Table, render
    from planner.model.load import catalog_spec

    rows = []
    for name in model_names():
        spec = catalog_spec(name)
        rows.append({"name": name, "model_type": spec.model_type, "parameters": spec.parameters, "dtype": spec.default_dtype})
    if output_format(fmt, as_json) == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    t = Table([Column("name", "name"), Column("model_type", "model_type"), Column("parameters", "parameters", "count"),
               Column("dtype", "dtype")], rows, main=True)
    click.echo(render([t], fmt), nl=fmt == "text")


def _register() -> None:
    from planner.cli.plan import plan
    from planner.cli.size import size
    from planner.cli.whatif import schema, whatif

    cli.add_command(plan)
    cli.add_command(size)
    cli.add_command(whatif)
    cli.add_command(schema)


_register()


_WRITE_ERRORS = (errno.ENOSPC, errno.EFBIG, errno.EIO)


def _quiet_stdout() -> None:
    """Point standard output at /dev/null so Python's exit-time flush cannot fail a second time."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _fail(message: str, code: int) -> None:
    click.echo(message, err=True)
    sys.exit(code)


def _run() -> int | None:
    code = cli.main(standalone_mode=False)
    sys.stdout.flush()  # a full disk or closed pipe on stdout fails here, inside the handlers
    return code


def main() -> None:
    """Run the CLI; every way it can end is one line on stderr and a status from ``EXIT_STATUSES``."""
    from planner.errors import PlannerError

    try:
        code = _run()
    except (KeyboardInterrupt, click.exceptions.Abort) as e:
        interrupted = isinstance(e, KeyboardInterrupt) or isinstance(e.__cause__, KeyboardInterrupt)
        _fail("Interrupted; nothing was written." if interrupted else "Aborted.", 130 if interrupted else 1)
    except BrokenPipeError:  # the reader went away (planner ... | head): stop quietly
        _quiet_stdout()
        sys.exit(141)  # 128 + SIGPIPE
    except click.exceptions.UsageError as e:
        hint = f" (see: {e.ctx.command_path} --help)" if e.ctx is not None else ""
        _fail(f"Error: {e.format_message()}{hint}", e.exit_code)
    except click.ClickException as e:
        _fail(f"Error: {e.format_message()}", e.exit_code)
    except PlannerError as e:
        _fail(f"Error: {e}", e.exit_code)
    except RecursionError:
        _fail("Error: input nests too deeply to read", 2)
    except MemoryError:
        _fail("Error: out of memory; the request is too large for this machine (fewer sweep points or a smaller model)", 2)
    except OSError as e:  # outside the files planner writes itself: standard output, mostly
        _quiet_stdout()
        where = f"{str(e.filename)[:200]}: " if e.filename else "standard output: " if e.errno in _WRITE_ERRORS else ""
        _fail(f"Error: {where}{e.strerror or e}", 2)
    except Exception as e:  # a bug: one line to report, the traceback only when asked for
        if _DEBUG["on"]:
            raise
        _fail(f"Error: internal error ({type(e).__name__}: {str(e)[:200]}); this is a bug in planner, please report it "
              "with the command that caused it (rerun with --debug for the traceback)", 70)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()

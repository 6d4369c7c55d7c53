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

from planner.cli_options import (
    check_mode_flags,
    make_workload,
    revision_option,
    workload_fields,
    workload_options,
)
from planner.cli_settings import settings_command, settings_from_flags

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
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@revision_option
def estimate(model, mode, seq_len, gpus, as_json, revision, **kwargs):
    """Exact memory of MODEL (catalog name, Hub repo id, config.json, or safetensors file/folder) for inference, training
    or compression."""
    from planner.catalog import find_gpu
    from planner.costs.overhead import gpus_needed, reserve_bytes
    from planner.costs.profile import profile
    from planner.export.report import estimate_json, estimate_table
    from planner.spec.load import load_model
    from planner.units import GiB

    check_mode_flags(mode)
    w = make_workload(mode=mode, **workload_fields(kwargs))
    gpu_types = [find_gpu(g) for g in gpus]
    prof = profile(load_model(model, revision), w)
    if mode == "training":
        _training(prof, settings_from_flags("training", kwargs, micro_batch=w.batch, seq_len=seq_len), gpu_types, as_json)
        return
    if mode == "compression":
        _compression(model, prof, gpu_types, settings_from_flags("compression", kwargs, seq_len=seq_len), as_json)
        return
    if as_json:
        click.echo(estimate_json(prof), nl=False)
        return
    lines = []
    for g in gpu_types:
        reserve = reserve_bytes(g.memory_bytes, g.cuda_context_bytes)
        n = gpus_needed(prof.weights_bytes + prof.kv_bytes, prof.activation_peak_bytes, g.memory_bytes, reserve)
        need = "cannot hold the activation peak" if n is None else f"needs at least {n} (weights and KV spread, each GPU keeping the activation peak)"
        lines.append(f"On {g.name} ({g.memory_bytes / GiB:.2f} GiB, reserve {reserve / GiB:.2f} GiB): {need}")
    click.echo(estimate_table(prof, lines))


def _training(prof, setup, gpu_types, as_json) -> None:
    from planner.costs.training import training_cost
    from planner.export.training_report import hardware_lines, training_json, training_table
    from planner.solve.training_hardware import peak_reducers, training_hardware

    cost = training_cost(prof, setup)
    hardware = training_hardware(prof, setup, gpu_types or None)
    reducers = peak_reducers(prof, cost)
    if as_json:
        click.echo(training_json(prof, cost, hardware, reducers), nl=False)
        return
    click.echo(training_table(prof, cost, hardware_lines(setup, hardware, bool(gpu_types)), reducers))


def _compression(model, prof, gpu_types, setup, as_json) -> None:
    from planner.costs.compression import compression_cost
    from planner.export.compression_report import compression_json, compression_table
    from planner.solve.compression_plan import recommend

    cost = compression_cost(prof, setup)
    recs = [recommend(prof, g, setup) for g in gpu_types]
    click.echo(compression_json(model, prof, cost, recs) if as_json else compression_table(model, prof, cost, recs),
               nl=not as_json)


@cli.group()
def catalog() -> None:
    """List the bundled catalogs."""


@catalog.command("gpus")
@click.option("--json", "as_json", is_flag=True)
def catalog_gpus(as_json):
    """GPU types: memory as the driver reports it, bandwidth, TFLOPs, prices."""
    import json

    from planner.catalog import gpu_types
    from planner.units import GB, GiB

    rows = gpu_types()
    if as_json:
        click.echo(json.dumps([{
            "name": g.name, "memory_bytes": g.memory_bytes, "hbm_gb_per_s": g.hbm_gb_per_s,
            "bf16_tflops": g.bf16_tflops, "fp8_tflops": g.fp8_tflops, "interconnect": g.interconnect,
            "interconnect_gb_per_s": g.interconnect_gb_per_s, "price_usd": g.price_usd, "price_usd_per_hour": g.price_usd_per_hour,
            "aliases": list(g.aliases), "sources": g.sources} for g in rows], indent=2))
        return
    click.echo(f"{'name':<14}{'memory GiB':>11}{'GB':>8}{'HBM GB/s':>10}{'bf16 TF':>9}  {'link':<16}{'buy USD':>9}{'USD/h':>7}")
    for g in rows:
        price = f"{g.price_usd:,.0f}" if g.price_usd else "-"
        hourly = f"{g.price_usd_per_hour:.2f}" if g.price_usd_per_hour else "-"
        click.echo(f"{g.name:<14}{g.memory_bytes / GiB:>11.2f}{g.memory_bytes / GB:>8.1f}{g.hbm_gb_per_s:>10.0f}"
                   f"{g.bf16_tflops:>9.0f}  {g.interconnect + ' ' + format(g.interconnect_gb_per_s, '.0f'):<16}{price:>9}{hourly:>7}")


@catalog.command("models")
@click.option("--json", "as_json", is_flag=True)
def catalog_models(as_json):
    """Bundled model configs (real config.json files)."""
    import json

    from planner.catalog import load_model_config, model_names
    from planner.spec.hf_config import spec_from_config

    rows = []
    for name in model_names():
        spec = spec_from_config(load_model_config(name), name)
        rows.append({"name": name, "model_type": spec.model_type, "parameters": spec.parameters, "dtype": spec.default_dtype})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<28}{'model_type':<18}{'parameters':>18}  dtype")
    for r in rows:
        click.echo(f"{r['name']:<28}{r['model_type']:<18}{r['parameters']:>18,}  {r['dtype']}")


def _register() -> None:
    from planner.cli_plan import plan
    from planner.cli_size import size
    from planner.cli_whatif import schema, whatif

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

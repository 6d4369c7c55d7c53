"""The ``planner`` command. Heavy modules are imported inside commands so ``--help`` stays instant.

Errors the user can fix print one line, ``Error: ...``, and exit with the error's code (2 for
bad input); nothing prints a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys

import click

from planner.cli.complete import complete_gpu, complete_model
from planner.cli.options import (
    check_mode_flags,
    config_out_options,
    format_options,
    mode_options,
    output_format,
    revision_option,
    workload_options,
    write_config_outs,
)
from planner.cli.settings import settings_command

_DEBUG = {"on": bool(os.environ.get("PLANNER_DEBUG"))}


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="planner")
@click.option("--debug", is_flag=True, help="Show the Python traceback of an internal error (or set PLANNER_DEBUG=1).")
def cli(debug: bool) -> None:
    """Fit big neural networks onto GPUs: exact memory per layer, optimal device_maps, GPUs to buy, what-if sweeps."""
    _DEBUG["on"] = _DEBUG["on"] or debug


@cli.command(cls=settings_command())
@click.argument("model", shell_complete=complete_model)
@mode_options("What runs: inference, training (DeepSpeed ZeRO, LoRA), or one-shot compression with llm-compressor.")
@workload_options
@click.option("--gpu", "gpus", multiple=True, shell_complete=complete_gpu, help="Also say how many of this catalog GPU type it needs, which "
              "compression settings fit it, or how many it takes to train (repeatable).")
@config_out_options("deepspeed")
@format_options
@revision_option
@click.pass_context
def estimate(ctx, fmt, as_json, deepspeed_config_out, **params):
    """Exact memory of MODEL (catalog name, Hub repo id, config.json, or safetensors file/folder) for inference, training
    or compression."""
    from planner.answers.answer import answer_estimate, exit_status
    from planner.api import estimate_request
    from planner.cli.render import render_answer
    from planner.files import check_output

    check_mode_flags(params["mode"])
    check_output(deepspeed_config_out, "--deepspeed-config-out")
    result = answer_estimate(estimate_request(**params))
    write_config_outs(result, deepspeed_config_out=deepspeed_config_out)
    render_answer(result, output_format(fmt, as_json))
    ctx.exit(exit_status(result))


@cli.group()
def catalog() -> None:
    """List the bundled catalogs."""


@catalog.command("gpus")
@format_options
def catalog_gpus(fmt, as_json):
    """GPU types: memory as the driver reports it, bandwidth, TFLOPs, prices."""
    from planner.api import catalog_gpus as gpus
    from planner.export.catalog_report import gpus_json, gpus_table

    fmt = output_format(fmt, as_json)
    click.echo(gpus_json(gpus()) if fmt == "json" else gpus_table(gpus(), fmt), nl=fmt in ("text", "json"))


@catalog.command("hosts")
@format_options
def catalog_hosts(fmt, as_json):
    """Hosts GPUs are bought in (price, power, rack units without GPUs) and instances they rent as."""
    from planner.api import catalog_hosts as hosts
    from planner.export.catalog_report import hosts_json, hosts_table

    fmt = output_format(fmt, as_json)
    click.echo(hosts_json(*hosts()) if fmt == "json" else hosts_table(*hosts(), fmt), nl=fmt in ("text", "json"))


@catalog.command("models")
@format_options
def catalog_models(fmt, as_json):
    """Bundled model configs (real config.json files)."""
    from planner.api import catalog_models as models
    from planner.export.catalog_report import models_json, models_table

    fmt = output_format(fmt, as_json)
    click.echo(models_json(models()) if fmt == "json" else models_table(models(), fmt), nl=fmt in ("text", "json"))


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


def safe_line(text: str) -> str:
    """One line that is safe on a terminal: control characters (newlines, escapes that could clear
    the screen or retitle the window) written as Python escapes."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _fail(message: str, code: int) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):  # stderr closed or unwritable: the status tells
        click.echo(safe_line(message), err=True)
    sys.exit(code)


class _WholeWrites(io.RawIOBase):
    """Standard output as a regular file, written whole: Python's own writer drops the rest of a
    write the kernel cut short (a file-size limit, ``ulimit -f``) without an error; this one writes
    until every byte is out or the kernel says why not."""

    def __init__(self, fd: int):
        self.fd = fd

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]
        return len(data)


def _regular_stdout() -> None:
    """Standard output redirected to a regular file goes through ``_WholeWrites``."""
    import stat

    try:
        fd = sys.stdout.fileno()
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except (OSError, ValueError, AttributeError):  # a test's capture, a closed stream
        return
    if regular:
        sys.stdout.flush()
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(_WholeWrites(fd)), encoding=sys.stdout.encoding,
                                      errors=sys.stdout.errors, newline=None)


def _run() -> int | None:
    if sys.stdout is not None:
        _regular_stdout()
    if sys.stdout is None:  # started with stdout closed (planner ... >&-)
        from planner.errors import InputError

        raise InputError("standard output is closed; run with an open standard output or redirect it to a file")
    try:
        code = cli.main(prog_name="planner", standalone_mode=False)  # one name (and completion variable) however started
    except SystemExit as e:  # click turns a closed pipe into exit 1 after pacifying stdout
        if e.code == 1 and type(sys.stdout).__name__.lstrip("_") == "PacifyFlushWrapper":
            raise BrokenPipeError from None
        raise
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
    except click.exceptions.NoArgsIsHelpError as e:  # ``planner``, ``planner catalog``: the help, as --help prints it
        click.echo(e.ctx.get_help())
        sys.exit(0)
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

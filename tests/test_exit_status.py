"""The CLI's exit statuses at its edges: Ctrl-C is 130 with one line and no traceback, a closed
pipe is 141 and quiet, and a real SIGINT to a running ``planner`` gives 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from planner import cli


def _exit_of(monkeypatch, capsys, error: BaseException) -> tuple[int, str]:
    def boom(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli.cli, "main", boom)
    with pytest.raises(SystemExit) as stop:
        cli.main()
    return stop.value.code, capsys.readouterr().err


def test_keyboard_interrupt_is_130(monkeypatch, capsys):
    code, err = _exit_of(monkeypatch, capsys, KeyboardInterrupt())
    assert code == 130
    assert err.strip() == "Interrupted; nothing was written."


def test_abort_at_a_prompt_is_1(monkeypatch, capsys):
    import click

    code, err = _exit_of(monkeypatch, capsys, click.exceptions.Abort())
    assert (code, err.strip()) == (1, "Aborted.")


def test_broken_pipe_is_141_and_quiet(monkeypatch, capsys):
    code, err = _exit_of(monkeypatch, capsys, BrokenPipeError())
    assert (code, err) == (141, "")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_real_sigint_while_running(tmp_path):
    """SIGINT to a ``planner`` process that is busy (a Python-level loop stands in for a long
    solve, started through the real entry point)."""
    script = tmp_path / "busy.py"
    script.write_text(  # Python's own Ctrl-C handler, whatever the runner left (a background job ignores SIGINT)
        "import signal, sys, planner.cli.app as c\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "def busy(*a, **k):\n"
        "    print('ready', flush=True)\n"
        "    while True:\n"
        "        pass\n"
        "c.cli.main = busy\n"
        "c.main()\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    os.kill(proc.pid, signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()  # a failed test leaves no busy loop behind
        raise
    assert proc.returncode == 130
    assert "Traceback" not in err and "Interrupted" in err

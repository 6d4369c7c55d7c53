"""Every case of the hostile corpus (tests/hostile_corpus.py) ends as the error contract promises:
exit 2 with one line naming the field (or 3, or 0 where the input is legitimate), never a
traceback, a hang, a success on nonsense, or a write outside the regular file asked for."""

from __future__ import annotations

import signal
import sys

import pytest
from hostile_corpus import cases

from planner import cli

HANG_S = 30


class HangError(Exception):
    pass


def _alarm(signum, frame):
    raise HangError(f"no answer within {HANG_S} s")


def run_in_process(argv, monkeypatch, capsys) -> tuple[int, str, str]:
    """The CLI's exit status, stdout and stderr; any exception other than SystemExit escapes."""
    monkeypatch.setattr(sys, "argv", ["planner", *argv])
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_S)
    try:
        cli.main()
        code = 0
    except SystemExit as stop:
        code = stop.code or 0
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_hostile_input_ends_as_promised(case, tmp_path, monkeypatch, capsys):
    folder = tmp_path / "case"
    folder.mkdir()
    monkeypatch.chdir(folder)
    argv = case.build(folder)
    code, out, err = run_in_process(argv, monkeypatch, capsys)
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    if case.expect == "ok":
        assert code == 0, err
    else:
        assert code == (2 if case.expect == "error" else 3), (code, out, err)
        assert len(lines) == 1 and lines[0].startswith("Error:"), err
        assert len(lines[0]) < 600, lines[0]
        for needle in case.needles:
            assert needle in lines[0], lines[0]
    if case.check is not None:
        case.check(folder)

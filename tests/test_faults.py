"""Faults from outside the input: ``kill -9`` in the middle of a write, a file-size limit (what a
full disk looks like to a writer), standard output on a full device, and Ctrl-C during a CP-SAT
search and during a sweep with worker processes. Each runs the real ``planner`` process."""

from __future__ import annotations

import contextlib
import hashlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and resource limits")
PLANNER = [sys.executable, "-m", "planner"]
HOMELAB = str(ROOT / "examples" / "whatif" / "homelab.yaml")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("stage", ["mkstemp", "fsync", "chmod", "replace", "after"])
def test_kill_9_during_a_write_leaves_the_old_file_or_the_new_one(tmp_path, stage):
    """The writer stops itself at each step of an atomic write (the temporary file made, its data
    written but not synced, synced, about to be renamed, renamed) and is killed there: no sleeps,
    every step is reached."""
    target = tmp_path / "map.json"
    target.write_text("old\n")
    new = "x" * (200 << 20)
    writer = ("import os, sys, tempfile\n"
              "from planner.files import write_atomic\n"
              "def stop_before(module, name):\n"
              "    real = getattr(module, name)\n"
              "    def wrapped(*a, **k):\n"
              "        print('at', flush=True); sys.stdin.readline()\n"
              "        return real(*a, **k)\n"
              "    setattr(module, name, wrapped)\n"
              f"stage = {stage!r}\n"
              "if stage != 'after':\n"
              "    stop_before(tempfile if stage == 'mkstemp' else os, stage)\n"
              f"write_atomic({str(target)!r}, 'x' * (200 << 20))\n"
              "print('at', flush=True); sys.stdin.readline()\n")
    proc = subprocess.Popen([sys.executable, "-c", writer], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "at"
    proc.kill()
    proc.wait()
    text = target.read_text()
    assert text in ("old\n", new), f"a half-written file of {len(text):,} bytes"
    assert text == (new if stage == "after" else "old\n")


def test_a_file_size_limit_while_writing_csv_is_one_line_and_keeps_the_old_file(tmp_path):
    """RLIMIT_FSIZE makes the write fail with EFBIG, as a full disk fails it with ENOSPC."""
    out = tmp_path / "rows.csv"
    out.write_text("old\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (512, 512))

    r = subprocess.run([*PLANNER, "whatif", HOMELAB, "--jobs", "1", "--csv", str(out)], capture_output=True, text=True,
                       preexec_fn=limit, cwd=tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1 and lines[0].startswith("Error: --csv: cannot write") and "File too large" in lines[0], r.stderr
    assert out.read_text() == "old\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".planner-")], "temporary file left behind"


def test_standard_output_on_a_full_device_is_one_line(tmp_path):
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        r = subprocess.run([*PLANNER, "catalog", "gpus"], stdout=full, stderr=subprocess.PIPE, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == "Error: standard output: No space left on device"


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status  # a zombie has exited


def _default_sigint() -> None:
    """In the child before exec: Ctrl-C's default action, as in a terminal's foreground job (a
    runner started in the background without job control ignores SIGINT, and children inherit it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _interrupt(proc: subprocess.Popen) -> tuple[str, str]:
    """SIGINT to the whole process group, as a terminal sends Ctrl-C; (stdout, stderr) once it
    has exited (a hang fails after 30 s; how fast it stops is measured in benchmarks, not here)."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # a failed test leaves nothing running
        raise


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
def test_ctrl_c_during_a_sweep_with_workers_stops_them_all(tmp_path):
    sweep = tmp_path / "sweep.yaml"
    sweep.write_text("model: Llama-3.1-405B\nworkload: {batch: 1, prompt_tokens: 4096, new_tokens: 256}\n"
                     "inventory: {gpus: [4xRTX4090, 2xA100-40GB, 2xL40S], cpu: 1TiB}\nobjective: balance\n"
                     "sweep:\n  workload.batch: [" + ", ".join(map(str, range(1, 33))) + "]\n"
                     "  workload.prompt_tokens: [1024, 2048, 4096, 8192]\n")
    out = tmp_path / "rows.csv"
    proc = subprocess.Popen([*PLANNER, "whatif", str(sweep), "--jobs", "2", "--csv", str(out), "--progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_default_sigint, cwd=tmp_path)
    _wait_for(proc, "1/")  # the first point is done: the workers run the others
    workers = _children(proc.pid)
    assert len(workers) >= 2, "the sweep did not start its workers"
    assert proc.poll() is None, "the sweep finished before it could be interrupted"
    stdout, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].split("\r")[-1] == "Interrupted; nothing was written.", stderr
    assert stdout == "", "a partial table was printed"
    assert not out.exists(), "a CSV was written for an interrupted sweep"
    assert not [w for w in workers if _alive(w)], "orphaned worker processes"


def _wait_for(proc: subprocess.Popen, text: str) -> None:
    """Read the process's stderr until ``text`` appears (the progress bar has no newline)."""
    import select

    seen = ""
    while text not in seen:
        ready, _, _ = select.select([proc.stderr], [], [], 60)
        assert ready and proc.poll() is None, f"no {text!r} on stderr: {seen[-200:]!r}"
        seen += os.read(proc.stderr.fileno(), 4096).decode()


def test_ctrl_c_during_a_cp_sat_search_exits_130(tmp_path):
    """A CP-SAT search with a 60 s budget, run the way every planner search is run
    (``cpsat_run``), from the real entry point: Ctrl-C, sent once the search itself has logged
    (inside the solve), ends it with 130 and prints no result."""
    script = tmp_path / "search.py"
    script.write_text(
        "from ortools.sat.python import cp_model\n"
        "import planner.cli.app as c\n"
        "from planner.search.cpsat_run import deterministic_solver, run_search\n"
        "said = []\n"
        "def log(line):\n"
        "    if not said:\n"
        "        said.append(1); print('ready', flush=True)\n"
        "def search(*a, **k):\n"
        "    m = cp_model.CpModel()\n"
        "    xs = [m.new_int_var(0, 1000, f'x{i}') for i in range(80)]\n"
        "    for i in range(79):\n"
        "        m.add(xs[i] * 7 + xs[i + 1] * 13 != 500)\n"
        "    m.add(sum(x * (i % 7 + 3) for i, x in enumerate(xs)) == 77777)\n"
        "    m.maximize(sum(xs[i] * ((i * 37) % 11) for i in range(80)))\n"
        "    solver = deterministic_solver(60)\n"
        "    solver.parameters.log_search_progress = True\n"
        "    solver.parameters.log_to_stdout = False\n"
        "    solver.log_callback = log\n"
        "    print('status', run_search(solver, m), flush=True)\n"
        "c.cli.main = search\n"
        "c.main()\n")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)
    assert proc.stdout.readline().strip() == "ready"
    stdout, stderr = _interrupt(proc)
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "Interrupted; nothing was written."
    assert "status" not in stdout, "the stopped search was reported as a result"


def test_standard_output_cut_by_a_file_size_limit_is_one_line(tmp_path):
    """``planner schema > file`` under ``ulimit -f``: the kernel writes part and refuses the rest;
    that is an error (exit 2), not a short file and exit 0."""
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    with open(tmp_path / "schema.json", "w") as out:
        r = subprocess.run([*PLANNER, "schema"], stdout=out, stderr=subprocess.PIPE, text=True, preexec_fn=limit)
    assert r.returncode == 2 and r.stderr.strip() == "Error: standard output: File too large", r.stderr


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="giving a file to another owner needs root")
def test_a_replaced_file_keeps_its_owner_and_mode(tmp_path):
    from planner.files import write_atomic

    target = tmp_path / "map.json"
    target.write_text("old\n")
    os.chown(target, 1234, 5678)
    os.chmod(target, 0o640)
    write_atomic(target, "new\n")
    info = os.stat(target)
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777, target.read_text()) == (1234, 5678, 0o640, "new\n")

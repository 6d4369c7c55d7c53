"""CP-SAT without pandas and numpy: the model builder loads against stand-ins that leave the process
at once, solves as OR-Tools always does, and a later ``import pandas`` or ``import numpy`` gets the
real library."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

CHECK = """
import sys
from planner.search.cp_model import load
cp_model = load()
assert "pandas" not in sys.modules and "numpy" not in sys.modules, "pandas or numpy was imported"
m = cp_model.CpModel()
x, y = m.new_int_var(0, 10, "x"), m.new_int_var(0, 10, "y")
m.add(x + 2 * y <= 14)
m.maximize(3 * x + 4 * y)
s = cp_model.CpSolver()
assert s.solve(m) == cp_model.OPTIMAL and s.objective_value == 38  # x = 10, y = 2
import numpy
import pandas
assert hasattr(pandas, "DataFrame") and pandas.Series is not cp_model.pd.Series
assert numpy.zeros(3).sum() == 0 and numpy.int64 is not cp_model.np.int64
print("ok")
"""


def test_cp_sat_solves_without_pandas_or_numpy_and_both_still_import():
    r = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_a_process_that_has_pandas_keeps_it():
    code = "import pandas\nfrom planner.search.cp_model import load\nassert load().pd is pandas\nprint('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_a_process_that_has_numpy_keeps_it():
    code = "import numpy\nfrom planner.search.cp_model import load\nassert load().np is numpy\nprint('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr

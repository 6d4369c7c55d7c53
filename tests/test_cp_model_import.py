"""CP-SAT without pandas: the model builder loads against a stand-in that leaves the process at
once, solves as OR-Tools always does, and a later ``import pandas`` gets the real library."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

CHECK = """
import sys
from planner.search.cp_model import load
cp_model = load()
assert "pandas" not in sys.modules, "pandas was imported"
m = cp_model.CpModel()
x, y = m.new_int_var(0, 10, "x"), m.new_int_var(0, 10, "y")
m.add(x + 2 * y <= 14)
m.maximize(3 * x + 4 * y)
s = cp_model.CpSolver()
assert s.solve(m) == cp_model.OPTIMAL and s.objective_value == 38  # x = 10, y = 2
import pandas
assert hasattr(pandas, "DataFrame") and pandas.Series is not cp_model.pd.Series
print("ok")
"""


def test_cp_sat_solves_without_pandas_and_pandas_still_imports():
    r = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_a_process_that_has_pandas_keeps_it():
    code = "import pandas\nfrom planner.search.cp_model import load\nassert load().pd is pandas\nprint('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr

"""OR-Tools' CP-SAT model builder, imported without pandas.

``ortools.sat.python.cp_model`` imports pandas at the top (about 0.2 s of a 0.4 s import on a
2-core machine) for its ``*_series`` helpers and for isinstance checks against ``pd.Series`` and
``pd.Index``; the planner uses neither. When pandas is not already loaded, the model builder is
imported against a stand-in whose ``Series`` and ``Index`` no value is an instance of, and the
stand-in is taken out of ``sys.modules`` again at once, so a later ``import pandas`` anywhere in the
process gets the real one. When pandas is already loaded, the real one is used. The solver, the
model and its proto are OR-Tools' own either way."""

from __future__ import annotations

import sys
import types


def load():
    """The ``cp_model`` module (imported once per process)."""
    loaded = sys.modules.get("ortools.sat.python.cp_model")
    if loaded is not None:
        return loaded
    if "pandas" in sys.modules:
        from ortools.sat.python import cp_model

        return cp_model
    stand_in = types.ModuleType("pandas", "planner's stand-in while ortools' cp_model is imported (no pandas used)")
    stand_in.Series = type("Series", (), {})
    stand_in.Index = type("Index", (), {})
    sys.modules["pandas"] = stand_in
    try:
        from ortools.sat.python import cp_model
    finally:
        if sys.modules.get("pandas") is stand_in:
            del sys.modules["pandas"]
    return cp_model

"""OR-Tools' CP-SAT model builder, imported without pandas and numpy.

``ortools.sat.python.cp_model`` imports pandas and numpy at the top (about 0.25 s together on a
2-core machine, more than the solver's own native module) for its ``*_series`` helpers and for
isinstance checks against ``pd.Series``, ``pd.Index`` and numpy's scalar types; the planner passes
plain Python ints and uses neither. When a library is not already loaded, the model builder is
imported against a stand-in whose types no value is an instance of, and the stand-in is taken out of
``sys.modules`` again at once, so a later ``import pandas`` or ``import numpy`` anywhere in the
process gets the real one. When a library is already loaded, the real one is used. The solver, the
model and its proto are OR-Tools' own either way."""

from __future__ import annotations

import sys
import types

_STAND_INS = {
    "pandas": ("Series", "Index"),
    "numpy": ("int8", "uint8", "int32", "uint32", "int64", "uint64", "double", "bool_"),
}


def load():
    """The ``cp_model`` module (imported once per process)."""
    loaded = sys.modules.get("ortools.sat.python.cp_model")
    if loaded is not None:
        return loaded
    placed = {}
    for name, kinds in _STAND_INS.items():
        if name not in sys.modules:
            stand_in = types.ModuleType(name, f"planner's stand-in while ortools' cp_model is imported (no {name} used)")
            for kind in kinds:
                setattr(stand_in, kind, type(kind, (), {}))
            sys.modules[name] = placed[name] = stand_in
    try:
        from ortools.sat.python import cp_model
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
    return cp_model

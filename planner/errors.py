"""One error tree for the whole planner; every class knows its exit status.

    PlannerError (exit 2: the input is at fault, the message says how to fix it)
    +-- InputError            bad flags, values or files given by the user
    |   +-- ConfigError       a config.json that is malformed, truncated or of an unknown family
    |   +-- SafetensorsError  a safetensors header that cannot be read
    |   +-- CatalogError      an unknown catalog name (with "did you mean")
    +-- InfeasibleError       (exit 3) the request is valid but cannot be met

The CLI prints ``Error: <message>`` on one line and exits with ``exit_code``; nothing
below the CLI prints. Exit statuses of ``planner``:

    0    the answer was printed (and any file written)
    1    aborted at a prompt
    2    bad input: the message names the field and the fix
    3    valid, but nothing fits (plan infeasible, size with no GPU count that serves)
    130  interrupted (Ctrl-C); files are written atomically, so none is left half written
    141  the reader of standard output went away (``planner ... | head``)
"""

from __future__ import annotations


class PlannerError(Exception):
    """Base class: a problem the user can fix; never shown with a traceback."""

    exit_code = 2


class InputError(PlannerError):
    """A value, flag or file given by the user is wrong."""


class ConfigError(InputError):
    """A model config.json cannot be turned into a model spec."""


class SafetensorsError(InputError):
    """A safetensors file or index cannot be read."""


class CatalogError(InputError):
    """A name is not in a catalog."""


class InfeasibleError(PlannerError):
    """The request is well formed but no plan satisfies it."""

    exit_code = 3

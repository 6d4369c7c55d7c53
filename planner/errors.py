"""One error tree for the whole planner; every class knows its exit status.

    PlannerError (exit 2: the input is at fault, the message says how to fix it)
    +-- InputError            bad flags, values or files given by the user
    |   +-- ConfigError       a config.json that is malformed, truncated or of an unknown family
    |   +-- SafetensorsError  a safetensors header that cannot be read
    |   +-- GgufError         a GGUF file (or split set) whose header cannot be read
    |   +-- CatalogError      an unknown catalog name (with "did you mean")
    +-- InfeasibleError       (exit 3) the request is valid but cannot be met

The CLI prints ``Error: <message>`` on one line and exits with ``exit_code``; nothing
below the CLI prints. ``EXIT_STATUSES`` lists every status ``planner`` exits with.
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


class GgufError(InputError):
    """A GGUF file, split set or Ollama manifest cannot be read."""


class CatalogError(InputError):
    """A name is not in a catalog."""


class InfeasibleError(PlannerError):
    """The request is well formed but no plan satisfies it."""

    exit_code = 3


EXIT_STATUSES: tuple[tuple[int, str], ...] = (
    (0, "the answer was printed, and every file asked for written"),
    (1, "aborted at a prompt"),
    (2, "bad input, or a file or standard output that cannot be read or written (disk full, permission): one line "
        "`Error: ...` names the field or file and the fix, no traceback; also a `whatif` whose every point failed "
        "(its rows are printed, then the line with the first point's reason)"),
    (3, "valid input, but nothing fits: `plan` infeasible (with the shortfall and a fix), "
        "`size` with no count that serves, `whatif --fail-on-misfit` with a point that does not fit or failed"),
    (130, "interrupted with Ctrl-C (128 + SIGINT); files are written atomically, so none is left half written"),
    (70, "internal error (a bug in planner): one line to report; `planner --debug ...` shows the traceback"),
    (141, "the reader of standard output went away, as in `planner ... | head` (128 + SIGPIPE)"),
)

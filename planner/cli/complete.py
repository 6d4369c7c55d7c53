"""Shell completion of MODEL and GPU names (click's completion: ``eval "$(_PLANNER_COMPLETE=bash_source
planner)"``). Catalog names are read only when the shell asks, so ``planner --help`` stays instant."""

from __future__ import annotations

import re

from click.shell_completion import CompletionItem


def complete_model(ctx, param, incomplete: str):
    """Catalog model names that start with what is typed; a path once it looks like one."""
    from planner.catalog import model_names

    if incomplete.startswith((".", "/", "~")) or "/" in incomplete:
        return [CompletionItem(incomplete, type="file")]
    names = [CompletionItem(n) for n in model_names() if n.lower().startswith(incomplete.lower())]
    return names + [CompletionItem(incomplete, type="file")]


def complete_gpu(ctx, param, incomplete: str):
    """Catalog GPU names (and aliases), after a count when one is typed: ``2xA1`` -> ``2xA100-80GB``."""
    from planner.catalog import gpu_types

    count = re.match(r"^(\d+\s*[xX*])", incomplete)
    prefix = count.group(1) if count else ""
    rest = incomplete[len(prefix):].lower()
    names = sorted({n for g in gpu_types() for n in (g.name, *g.aliases)}, key=str.lower)
    return [CompletionItem(prefix + n) for n in names if n.lower().startswith(rest)]

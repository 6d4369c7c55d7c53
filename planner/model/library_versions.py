"""The installed transformers' version, read from its package metadata (no import: reading it
costs microseconds, importing transformers seconds). The spec cache's key and the rules that
changed between releases (what Falcon's new decoder architecture caches) read it here."""

from __future__ import annotations

import itertools
from functools import cache


@cache
def transformers_version_text() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("transformers")
    except PackageNotFoundError:
        return None


def transformers_at_least(*release: int) -> bool:
    """Whether the installed transformers is ``release`` (e.g. 5, 25) or newer; True when none is
    installed, as one installed now is the newest."""
    text = transformers_version_text()
    if text is None:
        return True
    parts = tuple(int("".join(itertools.takewhile(str.isdigit, piece)) or 0) for piece in text.split(".")[:len(release)])
    return parts >= release

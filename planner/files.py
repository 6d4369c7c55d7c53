"""Every file the planner reads or writes goes through here, so the rules hold in one place.

Reading: only regular files, opened without blocking (a FIFO or ``/dev/zero`` named as a config is
refused at once, not waited on or read forever) and never more than a stated number of bytes.

Writing: whole or not at all. The text goes to a temporary file in the target's folder, is flushed
to disk, then renamed over the target, so a reader (or a crash, or ``kill -9``) sees the old file
or the new one, never half of one. Only regular files are replaced: a device node, FIFO or
folder is refused, a symbolic link is followed (the file it names is replaced, the link stays),
the mode of a replaced file is kept, and a file with other hard links is refused (a rename would
silently split it from them). ``-`` means standard output.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from planner.errors import InputError

_KINDS = ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "special file")


def default_mode() -> int:
    """Permissions a plain ``open(..., "w")`` would give (mkstemp's are owner-only)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def open_regular(path: str | Path, what: str, error: type[InputError] = InputError):
    """A read-only file object for the regular file ``path``, opened without blocking (a FIFO is
    refused, not waited on) and checked with ``fstat``; yields (file, size). Every error names
    ``what`` (the field or flag that gave the path)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise error(f"{what}: file not found: {path}") from None
    except PermissionError:
        raise error(f"{what}: {path}: permission denied; make the file readable") from None
    except OSError as e:
        raise error(f"{what}: cannot open {path} ({e.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise error(f"{what}: {path} is a {_kind(info.st_mode)}, not a regular file")
            yield f, info.st_size
        except OSError as e:
            raise error(f"{what}: cannot read {path} ({e.strerror})") from None


def read_regular(path: str | Path, limit: int, what: str, error: type[InputError] = InputError) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them."""
    with open_regular(path, what, error) as (f, size):
        if size > limit:
            raise error(f"{what}: {path} is {size:,} bytes, over the limit of {limit:,} bytes")
        data = f.read(limit + 1)
        if len(data) > limit:
            raise error(f"{what}: {path} grew past {limit:,} bytes while it was read")
        return data


def read_text(path: str | Path, limit: int, what: str, error: type[InputError] = InputError) -> str:
    """``read_regular`` decoded as UTF-8."""
    data = read_regular(path, limit, what, error)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{what}: {path} is not UTF-8 text (byte {e.start})") from None


def _target(given: str | Path, what: str) -> tuple[Path, int | None]:
    """The file a write replaces (a symbolic link's target) and the mode to give it."""
    if str(given).endswith(("/", os.sep)):  # Path() drops the slash: "map.json/" would write map.json
        raise InputError(f"{what}: {str(given)[:200]} ends with '/', which names a folder; give the name of a file")
    path = Path(given)
    try:
        info = os.stat(path)  # follows links
    except FileNotFoundError:
        if path.is_symlink():  # a dangling link: write the file it names
            return Path(os.path.realpath(path)), None
        return path, None
    except OSError as e:
        raise InputError(f"{what}: cannot write {path} ({e.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{what}: {path} is a {_kind(info.st_mode)}; give the name of a regular file to write")
    if info.st_nlink > 1:
        raise InputError(f"{what}: {path} has {info.st_nlink} hard links; replacing it would split it from the others, "
                         "so write to a new name")
    return Path(os.path.realpath(path)), stat.S_IMODE(info.st_mode)


def _folder_of(target: Path, what: str) -> Path:
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{what}: folder {folder} does not exist" if not folder.exists()
                         else f"{what}: {folder} is not a folder")
    return folder


def check_output(path: str | Path | None, what: str) -> None:
    """Refuse, before any work is done, an output path that ``write_atomic`` would refuse."""
    if path is None or str(path) == "-":
        return
    target, _ = _target(path, what)
    folder = _folder_of(target, what)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"{what}: folder {folder} is not writable")


def make_folder(path: str | Path, what: str) -> Path:
    """``path`` as a folder, created with its parents if missing, that this process can write in."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"{what}: cannot create folder {path} ({e.strerror})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{what}: folder {path} is not writable")
    return path


def write_bytes_atomic(path: str | Path, data: bytes, what: str = "output") -> None:
    """Write ``data`` to ``path`` whole or not at all (see the module docstring)."""
    target, mode = _target(path, what)
    path = Path(path)
    folder = _folder_of(target, what)
    try:
        owner = os.stat(target) if mode is not None else None
    except OSError:
        owner = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".planner-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise InputError(f"{what}: cannot write in {folder} ({e.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_mode() if mode is None else mode)
        if owner is not None and (owner.st_uid, owner.st_gid) != (os.getuid(), os.getgid()):
            with contextlib.suppress(PermissionError):  # only root may give a file away; the mode is kept anyway
                os.chown(tmp, owner.st_uid, owner.st_gid)
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"{what}: cannot write {path} ({e.strerror}); the old file, if any, is unchanged") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, text: str, what: str = "output") -> None:
    """Write ``text`` to ``path`` (``-`` is standard output) whole or not at all."""
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_bytes_atomic(path, text.encode("utf-8"), what)


MAX_DIGITS = 1000
"""Longest integer read from JSON (no size in a model file has more than 20 digits; Python refuses
to convert more than 4,300 and would take quadratic time before that)."""


def _bounded_int(text: str) -> int:
    import json

    if len(text.lstrip("-")) > MAX_DIGITS:
        raise json.JSONDecodeError(f"a number of {len(text):,} digits (at most {MAX_DIGITS:,})", text[:40], 0)
    return int(text)


def json_loads(text: str):
    """``json.loads`` with integers of at most MAX_DIGITS digits (a longer one is a JSONDecodeError)."""
    import json

    return json.loads(text, parse_int=_bounded_int)

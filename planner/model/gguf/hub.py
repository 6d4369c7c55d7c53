"""GGUF models on the Hugging Face Hub, named as llama.cpp's ``-hf`` names them: ``org/name:TAG``.

The file is chosen by llama.cpp's rule (common/download.cpp): the repo's files in the order the
Hub lists them; the tag matched case-insensitively as ``TAG[.-]`` anywhere in the path; sidecar
files (mmproj, imatrix, mtp-...) skipped; of a split set only part 00001 chosen, then all its parts
read. With no tag: Q4_K_M, then Q8_0, then the first model file. Headers come by HTTP range
requests through huggingface_hub (its endpoint, token and proxies), never the weights.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from planner.errors import GgufError, InputError
from planner.model.gguf.local import SPLIT, merge_parts
from planner.model.gguf.reader import GgufHeader, read_header

HF_TAG = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}):(?P<tag>[A-Za-z0-9._-]{1,64})$")
SIDECARS = ("mmproj", "imatrix", "mtp-", "eagle3-", "dflash-", "dspark-")
DEFAULT_TAGS = ("Q4_K_M", "Q8_0")
FIRST_READ = 1 << 20


def is_model_file(path: str) -> bool:
    name = PurePosixPath(path).name
    if not name.endswith(".gguf") or any(s in name for s in SIDECARS):
        return False
    m = SPLIT.match(name)
    return m is None or int(m["no"]) == 1


def choose_file(files: list[str], tag: str | None, repo: str) -> str:
    """The file ``-hf repo[:tag]`` loads, from the repo's file list in the Hub's order."""
    models = [f for f in files if is_model_file(f)]
    for t in ([tag] if tag else list(DEFAULT_TAGS)):
        pattern = re.compile(re.escape(t) + r"[.-]", re.IGNORECASE)
        for f in models:
            if pattern.search(f):
                return f
    if tag is None and models:
        return models[0]
    quants = sorted({m.group(1) for f in models if (m := re.search(r"[-.]([A-Za-z0-9_]+)(?:-\d{5}-of-\d{5})?\.gguf$", f))})
    if tag is not None:
        raise InputError(f"model: {repo} has no GGUF file tagged {tag!r}" + (f"; it has {', '.join(quants[:12])}" if quants else ""))
    raise InputError(f"model: {repo} has no GGUF model file")


def split_set(files: list[str], first: str) -> list[str]:
    path = PurePosixPath(first)
    m = SPLIT.match(path.name)
    if not m:
        return [first]
    count = int(m["count"])
    parts = [str(path.with_name(f"{m['prefix']}-{i:05d}-of-{count:05d}.gguf")) for i in range(1, count + 1)]
    missing = [p for p in parts if p not in files]
    if missing:
        raise InputError(f"model: the repo lists {first} but not its part {missing[0]}")
    return parts


def _first_read() -> int:
    """The first range's size (``PLANNER_GGUF_FIRST_READ`` bytes when set, for tests of small files)."""
    import os

    value = os.environ.get("PLANNER_GGUF_FIRST_READ", "")
    return int(value) if value.isdigit() and 0 < int(value) <= 1 << 30 else FIRST_READ


class _RangeReader:
    """``read(n)`` over a remote file, fetched in growing ranges (1 MiB, then doubling)."""

    def __init__(self, fetch, size: int | None):
        self._fetch, self._size = fetch, size
        self._buf, self._start, self._pos, self._chunk = b"", 0, 0, _first_read()

    def read(self, n: int) -> bytes:
        while self._pos + n > self._start + len(self._buf):
            end = self._start + len(self._buf)
            if self._size is not None and end >= self._size:
                break
            want = max(self._chunk, self._pos + n - end)
            data = self._fetch(end, end + want - 1)
            if not data:
                break
            self._buf += data
            self._chunk = min(self._chunk * 2, 64 << 20)
        out = self._buf[self._pos - self._start: self._pos - self._start + n]
        self._pos += len(out)
        return out


def _range(session, url: str, auth: dict, a: int, b: int) -> bytes:
    """Bytes a..b of a remote file; Hub errors (a gated file, a missing one) raised as huggingface_hub's own."""
    from huggingface_hub.utils import hf_raise_for_status

    kwargs = {"follow_redirects": True} if type(session).__module__.startswith("httpx") else {}
    r = session.get(url, headers={**auth, "Range": f"bytes={a}-{b}"}, **kwargs)
    if r.status_code == 416:
        return b""
    hf_raise_for_status(r)
    if r.status_code == 206:
        return r.content
    if r.status_code == 200:  # a server that ignores ranges sends the whole file: keep the part asked for
        return r.content[a:b + 1]
    raise GgufError(f"{url}: answered HTTP {r.status_code} to a range request")


def read_hub_gguf(name: str, revision: str | None) -> tuple[GgufHeader, str, str]:
    """(merged header, repo, chosen file) of ``org/name:TAG`` (or ``org/name`` with the default tags)."""
    from planner.model.hub import _hub_error, _import_hub, _within_deadline, check_hub_name

    m = HF_TAG.match(name)
    repo, tag = (m["repo"], m["tag"]) if m else (name, None)
    check_hub_name(repo, revision)
    hub = _import_hub()
    api = hub.HfApi()
    try:
        entries = _within_deadline(lambda: list(api.list_repo_tree(repo, revision=revision, recursive=True)), repo, revision)
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - every Hub failure is one line
        raise _hub_error(e, repo, revision) from None
    sizes = {e.path: getattr(e, "size", None) for e in entries if hasattr(e, "size")}
    files = list(sizes)
    chosen = choose_file(files, tag, repo)
    headers = []
    session = hub.utils.get_session()
    auth = hub.utils.build_hf_headers()
    for index, path in enumerate(split_set(files, chosen)):
        url = hub.hf_hub_url(repo, path, revision=revision)

        def fetch(a: int, b: int, url=url) -> bytes:
            return _range(session, url, auth, a, b)

        try:
            reader = _RangeReader(fetch, sizes.get(path))
            headers.append(_within_deadline(lambda reader=reader, path=path, index=index: read_header(
                reader.read, f"{repo}/{path}", sizes.get(path), index), repo, revision))
        except (GgufError, InputError):
            raise
        except Exception as e:  # noqa: BLE001
            raise _hub_error(e, repo, revision) from None
    header = headers[0] if len(headers) == 1 else merge_parts(headers, f"{repo}/{chosen}")
    return header, repo, chosen

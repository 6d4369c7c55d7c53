"""A small Hugging Face Hub look-alike on 127.0.0.1 for tests: the real ``huggingface_hub``
client, pointed at it with ``HF_ENDPOINT``, resolves files from it as it would from the Hub.

It serves ``/{repo}/resolve/{revision}/{file}`` for HEAD and GET (with byte ranges, as
``get_safetensors_metadata`` reads headers), answers the Hub's error codes in ``X-Error-Code``
(RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) and logs every request, so a test can
check that no weights were downloaded. It binds to loopback only and stops with its context.
"""

from __future__ import annotations

import hashlib
import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)$")
_TREE = re.compile(r"^/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/?]+)")


@dataclass
class Repo:
    files: dict[str, bytes]
    revisions: tuple[str, ...] = ("main",)
    gated_token: str | None = None
    """A repo that needs ``Authorization: Bearer <token>``; without it the Hub says GatedRepo."""

    def commit(self, revision: str) -> str:
        return hashlib.sha1(f"{revision}".encode()).hexdigest()


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    """(method, path, range header) of every request served."""
    url: str = ""

    def add_folder(self, repo_id: str, folder: Path, **kw) -> None:
        self.repos[repo_id] = Repo({p.relative_to(folder).as_posix(): p.read_bytes()
                                    for p in sorted(folder.rglob("*")) if p.is_file()}, **kw)

    sent: int = 0
    """Bytes of file content sent (ranges as cut to the file)."""


def _byte_range(rng: str | None, size: int) -> tuple[int, int, int]:
    """(first byte, last byte, HTTP status) of a ``Range: bytes=a-b`` request on a file of ``size`` bytes."""
    if rng and rng.startswith("bytes="):
        a, _, b = rng[6:].partition("-")
        return int(a), min(int(b) if b else size - 1, size - 1), 206
    return 0, size - 1, 200


def _tree_listing(hub: FakeHub, m) -> tuple[int, str, bytes]:
    """(status, error code, body) of ``list_repo_tree(recursive=True)``: the repo's files in insertion order."""
    import json

    repo = hub.repos.get(m["repo"])
    if repo is None:
        return 401, "RepoNotFound", b""
    if m["rev"] not in repo.revisions:
        return 404, "RevisionNotFound", b""
    return 200, "", json.dumps([{"type": "file", "oid": hashlib.sha1(data).hexdigest(), "size": len(data), "path": name}
                                for name, data in repo.files.items()]).encode()


def _handler(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _error(self, status: int, code: str) -> None:
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _tree(self, m) -> None:
            status, code, body = _tree_listing(hub, m)
            if code:
                return self._error(status, code)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self, body: bool) -> None:
            hub.requests.append((self.command, self.path, self.headers.get("Range")))
            tree = _TREE.match(unquote(self.path.split("?")[0]))
            if tree:
                return self._tree(tree)
            m = _RESOLVE.match(unquote(self.path.split("?")[0]))
            if not m:
                return self._error(404, "RepoNotFound")
            repo = hub.repos.get(m["repo"])
            if repo is None:
                return self._error(401, "RepoNotFound")
            if repo.gated_token and self.headers.get("Authorization") != f"Bearer {repo.gated_token}":
                return self._error(403, "GatedRepo")
            if m["rev"] not in repo.revisions:
                return self._error(404, "RevisionNotFound")
            data = repo.files.get(m["file"])
            if data is None:
                return self._error(404, "EntryNotFound")
            start, end, status = _byte_range(self.headers.get("Range"), len(data))
            chunk = data[start:end + 1]
            self.send_response(status)
            self.send_header("X-Repo-Commit", repo.commit(m["rev"]))
            self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
            self.send_header("Content-Length", str(len(chunk) if status == 206 or body else len(data)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            hub.sent += len(chunk) * body
            self.wfile.write(chunk if body else b"")

        def do_HEAD(self):  # noqa: N802 - http.server's naming
            self._serve(body=False)

        def do_GET(self):  # noqa: N802
            self._serve(body=True)

    return Handler


@contextmanager
def fake_hub():
    """A running FakeHub on a free loopback port; ``hub.url`` is the HF_ENDPOINT to use."""
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

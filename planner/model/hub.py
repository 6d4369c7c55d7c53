"""Models named by their Hugging Face Hub id (``org/name``, ``org/name@revision``).

``huggingface_hub`` does the work, so the planner behaves as every HF tool does: ``HF_TOKEN``
(or ``hf auth login``) for gated and private repos, ``HF_ENDPOINT`` for mirrors, ``HF_HOME`` for
the cache, ``HF_HUB_OFFLINE=1`` to stay off the network. Only small files are fetched:
``config.json`` (kept in the HF cache, so the model then works offline by its id) and, online,
the safetensors headers (HTTP range requests, ``HfApi.get_safetensors_metadata``), which tell
what the checkpoint stores. No weights are downloaded. Every Hub failure becomes one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from math import prod
from pathlib import Path

from planner.errors import InputError

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
REVISION = re.compile(r"^[A-Za-z0-9._][A-Za-z0-9._/-]{0,254}$")
HUB_DEADLINE_S = 20.0
"""Longest a Hub request may take in all (a server that accepts and never answers, retries);
``PLANNER_HUB_DEADLINE`` overrides it. Each connection also has huggingface_hub's own timeouts."""


@dataclass(frozen=True)
class HubModel:
    repo_id: str
    revision: str | None
    commit: str | None
    config: dict
    config_path: Path
    checkpoint_bytes: int | None
    """Bytes the checkpoint's safetensors files store (from their headers), when the Hub answered."""
    checkpoint_dtypes: tuple[str, ...] = ()
    auto_dtype: str | None = None
    """What ``dtype="auto"`` reads from the first checkpoint file (safetensors.auto_dtype)."""


def split_revision(model: str, revision: str | None = None) -> tuple[str, str | None]:
    """``org/name@rev`` -> (``org/name``, ``rev``); a ``--revision`` given as well must agree."""
    repo, sep, rev = model.partition("@")
    if sep and not rev:
        raise InputError(f"model: {model!r} ends with '@' but names no revision; write org/name@main or a commit")
    if sep and revision and rev != revision:
        raise InputError(f"revision: {model!r} names revision {rev!r} but --revision says {revision!r}; give one")
    return repo, (rev or revision or None)


def check_hub_name(repo: str, rev: str | None) -> None:
    """A name about to be asked of the Hub: the id by huggingface_hub's own validator, the revision
    as a branch, tag or commit name (no ``..`` segment: a revision also names a folder of the cache)."""
    try:
        from huggingface_hub.utils import validate_repo_id

        validate_repo_id(repo)
    except ImportError:
        pass
    except ValueError as e:  # HFValidationError
        raise InputError(f"model: {repo!r} is not a valid Hub repo id ({str(e).rstrip('.')})") from None
    if rev is not None and (not REVISION.match(rev) or ".." in rev.split("/") or "//" in rev):
        raise InputError(f"revision: {rev[:80]!r} is not a branch, tag or commit name")


def looks_like_repo_id(model: str) -> bool:
    return bool(REPO_ID.match(model.partition("@")[0]))


def _endpoint() -> str:
    from huggingface_hub import constants

    return constants.ENDPOINT


def _hub_error(e: Exception, repo: str, revision: str | None) -> InputError:
    """One line for each way the Hub can fail, naming the fix."""
    from huggingface_hub import errors

    where = f"{repo}@{revision}" if revision else repo
    if isinstance(e, errors.GatedRepoError):
        return InputError(f"model: {where} is a gated repo and this request has no access: accept its terms on the Hub, "
                          "then set HF_TOKEN or run `hf auth login`")
    if isinstance(e, errors.RevisionNotFoundError):
        return InputError(f"model: {repo} has no revision {revision!r}; name a branch, tag or commit that exists")
    if isinstance(e, errors.RepositoryNotFoundError):
        return InputError(f"model: Hub repo {repo!r} not found at {_endpoint()} (check the id; for a private repo set "
                          "HF_TOKEN or run `hf auth login`)")
    if isinstance(e, errors.OfflineModeIsEnabled):
        return InputError(f"model: {where} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
                          "run once online or unset HF_HUB_OFFLINE")
    if isinstance(e, errors.LocalEntryNotFoundError):
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            return InputError(f"model: {where} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; "
                              "run once online or unset HF_HUB_OFFLINE")
        return InputError(f"model: cannot reach the Hub at {_endpoint()} and {where} is not in the local cache; "
                          "check the network (or HF_ENDPOINT)")
    if isinstance(e, errors.RemoteEntryNotFoundError | errors.EntryNotFoundError):
        return InputError(f"model: {where} has no config.json; the planner needs a transformers model repo (for a GGUF "
                          f"repo name its quant, {repo}:Q4_K_M, or add --engine llamacpp)")
    if isinstance(e, errors.HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", "?")
        return InputError(f"model: the Hub at {_endpoint()} answered HTTP {status} for {where}; try again later")
    return InputError(f"model: cannot reach the Hub at {_endpoint()} for {where} ({type(e).__name__}); check the network")


def _checkpoint(repo: str, revision: str | None) -> tuple[int | None, tuple[str, ...], str | None]:
    """Stored bytes and dtypes of the checkpoint from its safetensors headers (range requests),
    and the dtype ``from_pretrained(dtype="auto")`` would read from its first file."""
    from huggingface_hub import HfApi, constants
    from huggingface_hub import errors as hub_errors

    from planner.model.safetensors import auto_dtype
    from planner.units import SAFETENSORS_BITS

    if constants.HF_HUB_OFFLINE:
        return None, (), None
    try:
        meta = HfApi().get_safetensors_metadata(repo, revision=revision)
    except (hub_errors.NotASafetensorsRepoError, hub_errors.SafetensorsParsingError, hub_errors.HfHubHTTPError, OSError,
            ValueError):
        return None, (), None
    total, dtypes = 0, set()
    for file_meta in meta.files_metadata.values():
        for info in file_meta.tensors.values():
            bits = SAFETENSORS_BITS.get(info.dtype)
            if bits is None:
                continue
            total += (prod(info.shape) * bits + 7) // 8
            dtypes.add(info.dtype)
    first = min(meta.files_metadata, default=None)
    auto = auto_dtype({n: i.dtype for n, i in meta.files_metadata[first].tensors.items()}) if first else None
    return total, tuple(sorted(dtypes)), auto


def _deadline() -> float:
    import os

    try:
        value = float(os.environ.get("PLANNER_HUB_DEADLINE", HUB_DEADLINE_S))
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise InputError("environment: PLANNER_HUB_DEADLINE must be a number of seconds between 0 and 3600")
    return value


def _within_deadline(call, repo: str, rev: str | None):
    """``call()`` in a worker thread, given up after the deadline (a silent server never answers)."""
    import threading

    out: dict = {}

    def work() -> None:
        try:
            out["value"] = call()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            out["error"] = e

    worker = threading.Thread(target=work, name="hub", daemon=True)
    worker.start()
    deadline = _deadline()
    worker.join(deadline)
    if worker.is_alive():
        raise InputError(f"model: the Hub at {_endpoint()} did not answer for {repo} within {deadline:g} s; check the "
                         "network or HF_ENDPOINT (PLANNER_HUB_DEADLINE sets the limit)")
    if "error" in out:
        raise out["error"]
    return out["value"]


def _import_hub():
    """huggingface_hub, whose settings come from the environment: a malformed one is the user's to fix."""
    try:
        import huggingface_hub
        from huggingface_hub.utils import logging as hub_logging
    except ImportError:
        raise InputError("model: reading a Hub repo id needs huggingface_hub: pip install huggingface_hub") from None
    except ValueError as e:  # e.g. HF_HUB_ETAG_TIMEOUT=abc, read when huggingface_hub is imported
        raise InputError(f"environment: a Hugging Face setting is malformed ({e}); check the HF_* variables such as "
                         "HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT") from None
    hub_logging.set_verbosity_error()  # its retry warnings would break the one-line error contract
    from urllib.parse import urlsplit

    endpoint = _endpoint()
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as e:
        raise InputError(f"environment: HF_ENDPOINT {endpoint[:120]!r} is not a URL the Hub client can use ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"environment: HF_ENDPOINT {endpoint[:120]!r} must be an http(s) URL, e.g. https://huggingface.co")
    return huggingface_hub


def _refused(hub, repo: str, rev: str | None) -> bool:
    """Whether the Hub's port refuses connections outright, asked only when the config is not in
    the cache and no proxy is set: huggingface_hub retries a refused connection for 23 s."""
    import os
    import socket
    from urllib.parse import urlsplit

    if hub.constants.HF_HUB_OFFLINE or any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY",
                                                                      "http_proxy", "ALL_PROXY", "all_proxy")):
        return False
    if isinstance(hub.try_to_load_from_cache(repo, "config.json", revision=rev), str):
        return False
    parts = urlsplit(_endpoint())
    try:
        with socket.create_connection((parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)), timeout=3):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:  # a name that does not resolve, a timeout: the client's own error says it
        return False


def resolve_hub_model(model: str, revision: str | None = None) -> HubModel:
    """config.json (and, online, the checkpoint's header summary) of a Hub repo id."""
    repo, rev = split_revision(model, revision)
    check_hub_name(repo, rev)
    hub = _import_hub()
    _deadline()  # a malformed limit is refused before any request
    if _refused(hub, repo, rev):
        raise InputError(f"model: the Hub at {_endpoint()} refuses connections and {repo} is not in the local cache; "
                         "check the network (or HF_ENDPOINT)")
    try:
        path = Path(_within_deadline(lambda: hub.hf_hub_download(repo, "config.json", revision=rev), repo, rev))
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - every Hub or network failure is turned into one line
        raise _hub_error(e, repo, rev) from None
    from planner.model.load import read_config_json

    commit = path.parent.name if path.parent.parent.name == "snapshots" else None
    config = read_config_json(path)
    stored, dtypes, auto = _within_deadline(lambda: _checkpoint(repo, rev), repo, rev)
    return HubModel(repo, rev, commit, config, path, stored, dtypes, auto)

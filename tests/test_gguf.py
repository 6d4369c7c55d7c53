"""The GGUF reader against the ``gguf`` package (llama.cpp's own Python reader and writer), the
places a GGUF model is found (split sets, folders, the loopback Hub, an Ollama store), and hostile
headers: one line, exit status 2."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys

import pytest
from conftest import ROOT, assert_input_error, run_cli
from gguf import GGUFReader
from gguf.constants import GGML_QUANT_SIZES
from gguf_files import write_model

from planner.errors import GgufError, InputError
from planner.model.gguf import gguf_kind, load_gguf
from planner.model.gguf.ggml_types import GGML_TYPES
from planner.model.gguf.hub import choose_file
from planner.model.gguf.local import read_local


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("gguf")
    out = {
        "dense": write_model(root / "dense.gguf")[0],
        "tied": write_model(root / "tied.gguf", tied=True, weight_type="Q8_0")[0],
        "moe": write_model(root / "moe.gguf", experts=8, experts_used=2, n_ff=256)[0],
        "swa": write_model(root / "swa.gguf", arch="gemma3", sliding_window=512, weight_type="Q4_0")[0],
    }
    (root / "split").mkdir()
    out["split"] = write_model(root / "split" / "dense.gguf", split_max_tensors=12)
    return out


@pytest.mark.parametrize("which", ["dense", "tied", "moe", "swa"])
def test_header_matches_the_gguf_package(files, which):
    path = files[which]
    ours = load_gguf(str(path))
    theirs = GGUFReader(path)
    assert [t.name for t in ours.tensors] == [t.name for t in theirs.tensors]
    for mine, ref in zip(sorted(ours.tensors, key=lambda t: t.name), sorted(theirs.tensors, key=lambda t: t.name),
                         strict=True):
        assert mine.shape == tuple(int(x) for x in ref.shape)
        assert mine.type_id == int(ref.tensor_type)
        assert mine.nbytes == int(ref.n_bytes)
        assert mine.offset == int(ref.data_offset) - _data_start(theirs)
    assert ours.tensor_bytes == sum(int(t.n_bytes) for t in theirs.tensors)
    assert ours.parameters == sum(int(t.n_elements) for t in theirs.tensors)
    assert ours.n_layer == int(theirs.fields[f"{ours.arch}.block_count"].parts[-1][0])
    assert ours.vocab_size == len(theirs.fields["tokenizer.ggml.tokens"].data)
    assert ours.file_bytes == path.stat().st_size


def _data_start(reader: GGUFReader) -> int:
    return min(int(t.data_offset) for t in reader.tensors) - min(0, 0)


def test_type_table_matches_ggml_quant_sizes():
    """Every type both define agrees; Q8_1 (never stored in files) is 36 bytes in ggml-common.h's
    static_assert and the newest Q2_0 is not in this gguf release."""
    from gguf.constants import GGMLQuantizationType

    for t, (block, size) in GGML_QUANT_SIZES.items():
        if t.name == "Q8_1":
            continue
        assert GGML_TYPES[t.value][1:] == (block, size), t.name
    assert {t.value for t in GGMLQuantizationType} - set(GGML_TYPES) == set()


def test_split_set_is_one_model(files):
    parts = files["split"]
    assert len(parts) > 1
    whole = load_gguf(str(files["dense"]))
    for part in parts:  # any part names the whole set
        split = load_gguf(str(part))
        assert sorted((t.name, t.nbytes) for t in split.tensors) == sorted((t.name, t.nbytes) for t in whole.tensors)
        assert split.files == tuple(str(p) for p in parts)
    assert gguf_kind(str(parts[0].parent)) == "folder"
    assert load_gguf(str(parts[0].parent)).tensor_bytes == whole.tensor_bytes


def test_split_set_missing_a_part(tmp_path, files):
    for p in files["split"][:-1]:
        (tmp_path / p.name).write_bytes(p.read_bytes())
    with pytest.raises(GgufError, match="lacks 1 of its"):
        load_gguf(str(tmp_path / files["split"][0].name))


def test_folder_with_two_models_asks_which(tmp_path, files):
    for k in ("dense", "tied"):
        (tmp_path / files[k].name).write_bytes(files[k].read_bytes())
    (tmp_path / "mmproj-F16.gguf").write_bytes(files["dense"].read_bytes())
    with pytest.raises(GgufError, match="holds 2 GGUF models"):
        load_gguf(str(tmp_path))


def _header(version=3, n_tensors=0, kvs=b"", n_kv=0, tensors=b"") -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + kvs + tensors


def _s(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<Q", len(raw)) + raw


def _kv_str(key: str, value: str) -> bytes:
    return _s(key) + struct.pack("<I", 8) + _s(value)


def _tensor(name: str, dims, tid: int, offset: int) -> bytes:
    return _s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<IQ", tid, offset)


HOSTILE = {
    "empty": (b"", "not a GGUF file"),
    "magic": (b"GGML" + bytes(40), "not a GGUF file"),
    "version 1": (_header(version=1), "version 1 is not supported"),
    "big-endian": (b"GGUF" + struct.pack(">I", 3) + bytes(16), "big-endian"),
    "truncated": (_header(n_kv=1, kvs=_s("general.architecture")[:10]), "truncated"),
    "huge counts": (_header(n_tensors=1 << 40), "header is corrupt"),
    "huge string": (_header(n_kv=1, kvs=struct.pack("<Q", 1 << 40)), "claims"),
    "bad value type": (_header(n_kv=1, kvs=_s("a") + struct.pack("<I", 99)), "value type 99"),
    "nested array": (_header(n_kv=1, kvs=_s("a") + struct.pack("<IIQ", 9, 9, 1)), "inside an array"),
    "duplicate key": (_header(n_kv=2, kvs=_kv_str("a", "x") * 2), "appears twice"),
    "bad type": (_header(n_tensors=1, tensors=_tensor("t", [32], 77, 0)), "not a ggml type"),
    "removed type": (_header(n_tensors=1, tensors=_tensor("t", [32], 31, 0)), "no longer loads"),
    "five dims": (_header(n_tensors=1, tensors=_tensor("t", [1, 1, 1, 1, 1], 0, 0)), "dimensions"),
    "zero extent": (_header(n_tensors=1, tensors=_tensor("t", [0], 0, 0)), "extent of 0"),
    "partial block": (_header(n_tensors=1, tensors=_tensor("t", [33], 12, 0)), "do not fill"),
    "misaligned": (_header(n_tensors=1, tensors=_tensor("t", [8], 0, 3)), "alignment"),
    "past the end": (_header(n_tensors=1, tensors=_tensor("t", [1 << 20], 0, 0)), "truncated or corrupt"),
    "no architecture": (_header(n_kv=1, kvs=_kv_str("general.name", "x")), "general.architecture is missing"),
    "not utf-8": (_header(n_kv=1, kvs=struct.pack("<Q", 2) + b"\xff\xfe"), "not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_header_one_line(tmp_path, case):
    data, message = HOSTILE[case]
    path = tmp_path / "bad.gguf"
    path.write_bytes(data)
    with pytest.raises(GgufError) as e:
        load_gguf(str(path))
    assert message in str(e.value) and "\n" not in str(e.value) and str(path) in str(e.value)


def test_hostile_header_exit_2(tmp_path):
    path = tmp_path / "bad.gguf"
    path.write_bytes(HOSTILE["past the end"][0])
    assert_input_error(run_cli("estimate", str(path)), "truncated or corrupt")
    assert_input_error(run_cli("plan", str(tmp_path / "missing.gguf"), "--gpu", "24GiB"), "file not found")


def test_a_fifo_is_refused_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "model.gguf"
    os.mkfifo(fifo)
    with pytest.raises(GgufError, match="FIFO"):
        read_local(fifo)


def test_hf_tag_choice_follows_llama_cpp():
    files = ["README.md", "mmproj-model-f16.gguf", "sub/Model-Q8_0.gguf", "Model-Q4_K_M.gguf",
             "big/Model-Q4_K_M-00002-of-00002.gguf", "Model-IQ4_XS.gguf"]
    assert choose_file(files, "q8_0", "o/r") == "sub/Model-Q8_0.gguf"  # case-insensitive, anywhere in the path
    assert choose_file(files, None, "o/r") == "Model-Q4_K_M.gguf"
    assert choose_file(["a-Q5_K_S.gguf", "b-Q8_0.gguf"], None, "o/r") == "b-Q8_0.gguf"
    assert choose_file(["a-Q5_K_S.gguf"], None, "o/r") == "a-Q5_K_S.gguf"
    with pytest.raises(InputError, match="has no GGUF file tagged 'Q2_K'; it has"):
        choose_file(files, "Q2_K", "o/r")


def _planner(*args, hub, home):
    """The planner as a user runs it, against the loopback Hub, with nothing of this process's HF_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1", HF_ENDPOINT=hub.url, PLANNER_GGUF_FIRST_READ="16384")
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def test_hub_repo_by_tag_reads_headers_only(tmp_path, files):
    from hub_server import fake_hub

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "tiny-Q4_K_M.gguf").write_bytes(files["dense"].read_bytes())
    (repo / "tiny-Q8_0.gguf").write_bytes(files["tied"].read_bytes())
    (repo / "split").mkdir()
    for p in files["split"]:
        (repo / "split" / p.name.replace("dense", "tiny-Q5_K_M")).write_bytes(p.read_bytes())
    with fake_hub() as hub:
        hub.add_folder("acme/tiny-GGUF", repo)
        r = _planner("estimate", "acme/tiny-GGUF:Q8_0", "--json", hub=hub, home=tmp_path)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)["model"]
        assert doc["hf_file"] == "tiny-Q8_0.gguf" and doc["tensor_bytes"] == load_gguf(str(files["tied"])).tensor_bytes
        r = _planner("plan", "acme/tiny-GGUF:Q8_0", "--gpu", "80MiB", "--reserve", "0", "--json", hub=hub, home=tmp_path)
        assert json.loads(r.stdout)["llama_server"][1:4] == ["-hf", "acme/tiny-GGUF:Q8_0", "--no-mmproj"]
        r = _planner("estimate", "acme/tiny-GGUF:q5_k_m", "--json", hub=hub, home=tmp_path)
        doc = json.loads(r.stdout)["model"]
        assert len(doc["files"]) == len(files["split"]) and doc["hf_file"].startswith("split/")
        assert doc["tensor_bytes"] == load_gguf(str(files["dense"])).tensor_bytes
        assert_input_error(_planner("estimate", "acme/tiny-GGUF", hub=hub, home=tmp_path), "acme/tiny-GGUF:Q4_K_M")
        r = _planner("plan", "acme/tiny-GGUF", "--engine", "llamacpp", "--gpu", "80MiB", "--reserve", "0", "--json",
                     hub=hub, home=tmp_path)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["llama_server"][1:4] == ["-hf", "acme/tiny-GGUF", "--no-mmproj"]  # llama.cpp's default tags...
        assert doc["model"]["hf_file"] == "tiny-Q4_K_M.gguf"  # ...choose Q4_K_M first, as the planner did
        assert all(rng for method, path, rng in hub.requests if method == "GET" and "/resolve/" in path)
        whole = sum(p.stat().st_size for p in repo.rglob("*.gguf"))
        assert hub.sent < whole / 4  # headers by ranges, never the weights
        assert_input_error(_planner("estimate", "acme/tiny-GGUF:Q2_K", hub=hub, home=tmp_path), "no GGUF file tagged 'Q2_K'")


def _ollama_store(root, blob_bytes: bytes, name=("library", "tiny", "7b")):
    import hashlib

    digest = hashlib.sha256(blob_bytes).hexdigest()
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / f"sha256-{digest}").write_bytes(blob_bytes)
    manifest = root / "manifests" / "registry.ollama.ai" / name[0] / name[1]
    manifest.mkdir(parents=True)
    doc = {"schemaVersion": 2, "layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}",
                                           "size": len(blob_bytes)}]}
    (manifest / name[2]).write_text(json.dumps(doc))
    return digest


def test_ollama_store(tmp_path, monkeypatch, files):
    digest = _ollama_store(tmp_path / "models", files["moe"].read_bytes())
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "models"))
    assert gguf_kind("tiny:7b") == "ollama"
    model = load_gguf("tiny:7b")
    assert model.ollama == "registry.ollama.ai/library/tiny:7b"
    assert model.tensor_bytes == load_gguf(str(files["moe"])).tensor_bytes
    result = run_cli("plan", "tiny:7b", "--gpu", "80MiB", "--reserve", "0")
    assert result.returncode == 0, result.stderr
    assert "ollama run tiny:7b" in result.stdout and "num_gpu" in result.stdout
    (tmp_path / "models" / "blobs" / f"sha256-{digest}").unlink()
    assert_input_error(run_cli("estimate", "tiny:7b"), "ollama pull")


@pytest.mark.parametrize("manifest, message", [
    ("{not json", "not a valid Ollama manifest"),
    ('{"layers": 3}', "has none"),
    ('{"layers": [{"mediaType": "application/vnd.ollama.image.template", "digest": "sha256:' + "0" * 64 + '"}]}',
     "names no model"),
    ('{"layers": [{"mediaType": "application/vnd.ollama.image.model", "digest": "md5:abc"}]}', "is not sha256"),
])
def test_hostile_ollama_manifest(tmp_path, monkeypatch, files, manifest, message):
    _ollama_store(tmp_path / "models", files["dense"].read_bytes())
    (tmp_path / "models" / "manifests" / "registry.ollama.ai" / "library" / "tiny" / "7b").write_text(manifest)
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "models"))
    with pytest.raises(GgufError, match=message):
        load_gguf("tiny:7b")


def test_a_gguf_file_without_suffix_is_read_as_gguf(tmp_path, files):
    blob = tmp_path / "sha256-0123"
    blob.write_bytes(files["dense"].read_bytes())
    assert gguf_kind(str(blob)) == "file"
    assert load_gguf(str(blob)).tensor_bytes == load_gguf(str(files["dense"])).tensor_bytes


def test_an_ollama_name_not_in_the_store_says_where_it_looked(tmp_path):
    env_store = tmp_path / "empty"
    r = subprocess.run([sys.executable, "-m", "planner", "estimate", "llama3.1:70b"], capture_output=True, text=True, cwd=ROOT,
               env={**os.environ, "OLLAMA_MODELS": str(env_store)})
    assert_input_error(r, "not in the Ollama store", str(env_store), "ollama pull llama3.1:70b")


def test_a_223_gb_model_costs_only_its_header(tmp_path):
    """A sparse 223 GB file: the header is read, the data never (it would take minutes and the disk)."""
    import resource

    kvs = _kv_str("general.architecture", "llama") + _s("llama.block_count") + struct.pack("<II", 4, 1)
    tensors = _tensor("blk.0.ffn_up.weight", [16384, 53248, 128], 1, 0)  # f16, 2 x 16384 x 53248 x 128 bytes
    header = _header(n_tensors=1, n_kv=2, kvs=kvs, tensors=tensors)
    path = tmp_path / "huge.gguf"
    with open(path, "wb") as f:
        f.write(header + bytes(-len(header) % 32))
        f.truncate(f.tell() + 2 * 16384 * 53248 * 128)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model = load_gguf(str(path))
    assert model.tensor_bytes == 2 * 16384 * 53248 * 128 > 200e9
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 64 * 1024  # KiB: well under 64 MiB


def _meta(**keys):
    from gguf.constants import GGUFValueType as T

    kinds = {str: T.STRING, int: T.INT32, float: T.FLOAT32}
    out = {}
    for key, value in keys.items():
        name = key.replace("__", ".")
        if isinstance(value, list):
            out[name] = (value, T.ARRAY, kinds[type(value[0])] if value else T.INT32)
        else:
            out[name] = (value, kinds[type(value)])
    return out


BAD_METADATA = {
    "string width": (_meta(llama__embedding_length="abc"), "llama.embedding_length is 'abc'"),
    "negative width": (_meta(llama__embedding_length=-256), "expected a non-negative integer"),
    "string heads": (_meta(llama__attention__head_count="x"), "llama.attention.head_count"),
    "short head array": (_meta(llama__attention__head_count_kv=[2, 2]), "has 2 entries; expected 4"),
    "float key length": (_meta(llama__attention__key_length=64.0), "llama.attention.key_length is 64.0"),
    "string window": (_meta(llama__attention__sliding_window="x"), "llama.attention.sliding_window"),
    "string experts": (_meta(llama__expert_count="x"), "llama.expert_count"),
    "string ffn array": (_meta(llama__feed_forward_length=["a", "b", "c", "d"]), "llama.feed_forward_length"),
}


@pytest.mark.parametrize("case", sorted(BAD_METADATA))
def test_bad_metadata_one_line_exit_2(tmp_path, case):
    meta, message = BAD_METADATA[case]
    path = write_model(tmp_path / "bad.gguf", metadata=meta)[0]
    with pytest.raises(GgufError, match=re.escape(message)):
        from planner.answers.llamacpp import estimate
        from planner.workload import Workload

        estimate(load_gguf(str(path)), Workload(prompt_tokens=4096))
    if case == "float key length":
        assert_input_error(run_cli("plan", str(path), "--gpu", "24GiB"), message)


@pytest.mark.parametrize("arch, window, pattern, expected", [
    ("phi3", 2047, None, [False] * 8),  # llama.cpp ignores phi3's window
    ("gemma2", 4096, None, [True, False] * 4),  # period 2: every second layer attends globally
    ("cohere2moe", 4096, None, [False, True, True, True] * 2),  # dense first
    ("gemma3", 1024, 4, [True, True, True, False] * 2),  # the file's period overrides the code's 6
    ("llama", 512, [True, False, False, True, True, False, False, True], [True, False, False, True, True, False, False, True]),
    ("llama", 512, None, [False] * 8),  # a window with no pattern in an architecture that has none
])
def test_sliding_window_layers_follow_llama_cpp(tmp_path, arch, window, pattern, expected):
    from gguf.constants import GGUFValueType as T

    from planner.costs.llamacpp import swa_layers

    meta = {}
    if isinstance(pattern, list):
        meta[f"{arch}.attention.sliding_window_pattern"] = (pattern, T.ARRAY, T.BOOL)
    elif pattern is not None:
        meta[f"{arch}.attention.sliding_window_pattern"] = (pattern, T.UINT32)
    path = write_model(tmp_path / "m.gguf", arch=arch, n_layer=8, sliding_window=window, metadata=meta)[0]
    assert swa_layers(load_gguf(str(path))) == expected


def test_an_unreadable_ollama_store_is_not_in_the_way(monkeypatch, tmp_path):
    """The Linux service's store is often closed to other users: a Hub id or catalog name must not fail on it."""
    from pathlib import Path

    from planner.model.gguf.ollama import find_manifest

    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path))

    def denied(self):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "is_file", denied)
    assert find_manifest("meta-llama/Llama-3.1-8B") is None
    assert gguf_kind("meta-llama/Llama-3.1-8B") is None


@pytest.mark.parametrize("extra, needle", [(["estimate", "--gpu", "H100"], "estimate takes no --gpu"),
                                           (["plan", "--gpu", "24GiB", "--pin", "output=0"], "pin:"),
                                           (["plan", "--gpu", "24GiB", "--disk", "1TiB"], "not disk"),
                                           (["plan", "--gpu", "24GiB", "--quant", "nf4"], "stored quantized"),
                                           (["plan", "--gpu", "24GiB", "--kv-dtype", "fp8"], "llama.cpp caches in")])
def test_flags_llama_cpp_does_not_take_are_refused(files, extra, needle):
    command, *rest = extra
    assert_input_error(run_cli(command, str(files["dense"]), *rest), needle)

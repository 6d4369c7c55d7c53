"""MODEL as a Hugging Face Hub repo id, against a Hub look-alike on loopback (tests/hub_server.py)
driven by the real huggingface_hub client: estimate and plan by repo id, revisions, the offline
cache, and one clear line for each way the Hub can fail. No weights are ever downloaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from hub_server import fake_hub

from planner import load_device_map

pytestmark = pytest.mark.hf
TINY = dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=300, tie_word_embeddings=True, torch_dtype="bfloat16")


def planner(*args, hub=None, home=None, offline=False, token=None, endpoint=None, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1", PLANNER_CACHE_DIR=str(home / "specs"))
    env["HF_ENDPOINT"] = endpoint or (hub.url if hub else "http://127.0.0.1:9")
    if offline:
        env["HF_HUB_OFFLINE"] = "1"
    if token:
        env["HF_TOKEN"] = token
    env.update(extra or {})
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)


def one_line_error(r, *needles):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "Traceback" not in r.stderr, r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def saved(hf, tmp_path_factory):
    """A tiny tied model saved sharded, and the same config saved as one file."""
    transformers, _, torch = hf
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.for_model(**TINY), dtype=torch.bfloat16)
    model.save_pretrained(root / "sharded", max_shard_size="100KB")
    model.save_pretrained(root / "single")
    assert (root / "sharded" / "model.safetensors.index.json").is_file() and (root / "single" / "model.safetensors").is_file()
    return root


@pytest.fixture
def hub(saved):
    with fake_hub() as h:
        h.add_folder("acme/tiny-sharded", saved / "sharded", revisions=("main", "v1"))
        h.add_folder("acme/tiny-single", saved / "single")
        h.add_folder("acme/gated", saved / "single", gated_token="hf_secret")
        h.repos["acme/no-config"] = type(h.repos["acme/gated"])({"README.md": b"not a model"})
        yield h


@pytest.mark.parametrize("repo", ["acme/tiny-sharded", "acme/tiny-single"])
def test_estimate_by_repo_id_equals_the_local_folder(hub, saved, tmp_path, repo):
    by_id = planner("estimate", repo, "--json", "--prompt-tokens", "64", hub=hub, home=tmp_path)
    assert by_id.returncode == 0, by_id.stderr
    local = planner("estimate", str(saved / repo.split("-")[-1]), "--json", "--prompt-tokens", "64", home=tmp_path)
    got, want = json.loads(by_id.stdout), json.loads(local.stdout)
    for key in ("parameters", "weights_bytes", "kv_bytes", "activation_peak_bytes", "units"):
        assert got[key] == want[key], key
    safetensors = [(m, r) for m, p, r in hub.requests if p.endswith(".safetensors")]
    assert safetensors and all(m == "HEAD" or (r or "").startswith("bytes=") for m, r in safetensors)  # headers only
    assert not any(m == "GET" and r is None and p.endswith(".safetensors") for m, p, r in hub.requests)


def test_revision_and_offline_cache(hub, tmp_path):
    assert planner("estimate", "acme/tiny-sharded@v1", hub=hub, home=tmp_path).returncode == 0
    assert planner("estimate", "acme/tiny-sharded", "--revision", "v1", hub=hub, home=tmp_path).returncode == 0
    one_line_error(planner("estimate", "acme/tiny-sharded@v1", "--revision", "main", hub=hub, home=tmp_path), "give one")
    one_line_error(planner("estimate", "acme/tiny-sharded@nope", hub=hub, home=tmp_path), "no revision 'nope'")
    first = planner("estimate", "acme/tiny-single", "--json", hub=hub, home=tmp_path)
    offline = planner("estimate", "acme/tiny-single", "--json", home=tmp_path, offline=True)
    assert offline.returncode == 0, offline.stderr
    assert json.loads(offline.stdout)["weights_bytes"] == json.loads(first.stdout)["weights_bytes"]
    one_line_error(planner("estimate", "acme/never-fetched", home=tmp_path, offline=True), "HF_HUB_OFFLINE")


def test_plan_by_repo_id_gives_a_map_that_loads(hub, saved, tmp_path, hf):
    transformers, _, torch = hf
    out = tmp_path / "map.json"
    weights = json.loads(planner("estimate", "acme/tiny-single", "--json", hub=hub, home=tmp_path).stdout)["weights_bytes"]
    cpu = f"{weights * 2 // 5}B"
    r = planner("plan", "acme/tiny-single", "--cpu", cpu, "--disk", "1GiB", "--dtype", "bf16", "--prompt-tokens", "8",
                "--device-map-out", str(out), hub=hub, home=tmp_path)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert set(doc["device_map"].values()) == {"cpu", "disk"} and "lm_head" in doc["device_map"]
    kwargs = load_device_map(out)  # the document's own loading instructions
    kwargs["offload_folder"] = str(tmp_path / "off")
    model = transformers.AutoModelForCausalLM.from_pretrained(saved / "single", dtype=torch.bfloat16, **kwargs)
    assert model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=2, do_sample=False).shape == (1, 5)


def test_gated_repo_needs_a_token(hub, tmp_path):
    one_line_error(planner("estimate", "acme/gated", hub=hub, home=tmp_path), "gated", "HF_TOKEN", "hf auth login")
    assert planner("estimate", "acme/gated", hub=hub, home=tmp_path, token="hf_secret").returncode == 0


def test_every_hub_failure_is_one_line(hub, tmp_path):
    one_line_error(planner("estimate", "acme/missing", hub=hub, home=tmp_path), "not found", "acme/missing")
    one_line_error(planner("estimate", "acme/no-config", hub=hub, home=tmp_path), "no config.json")
    one_line_error(planner("estimate", "acme/tiny-single@", hub=hub, home=tmp_path), "names no revision")


@pytest.mark.slow
def test_an_unreachable_hub_is_one_line_at_once(tmp_path):
    """A port that refuses connections is told at once (huggingface_hub would retry for 23 s)."""
    one_line_error(planner("estimate", "acme/tiny-single", home=tmp_path, endpoint="http://127.0.0.1:9"),
                   "refuses connections", "127.0.0.1:9")


def test_a_silent_hub_is_given_up_at_the_deadline(tmp_path):
    """A server that accepts the connection and never answers: one line once the deadline passes."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held = []
    threading.Thread(target=lambda: [held.append(server.accept()) for _ in iter(int, 1)], daemon=True).start()
    port = server.getsockname()[1]
    r = planner("estimate", "acme/tiny-single", home=tmp_path, endpoint=f"http://127.0.0.1:{port}",
                extra={"PLANNER_HUB_DEADLINE": "2", "HF_HUB_ETAG_TIMEOUT": "1"})
    one_line_error(r, "did not answer", "within 2 s")


@pytest.mark.parametrize(("env", "needle"), [({"HF_ENDPOINT": "http://127.0.0.1:99999"}, "HF_ENDPOINT"),
                                             ({"HF_HUB_ETAG_TIMEOUT": "abc"}, "HF_HUB_ETAG_TIMEOUT"),
                                             ({"PLANNER_HUB_DEADLINE": "-1"}, "PLANNER_HUB_DEADLINE")])
def test_a_malformed_setting_names_it(tmp_path, env, needle):
    one_line_error(planner("estimate", "acme/tiny-single", home=tmp_path, extra=env), needle)


@pytest.mark.parametrize(("args", "needle"), [(["org/a..b"], "not a valid Hub repo id"),
                                              (["org/name", "--revision", "../../evil/ref"], "not a branch, tag or commit")])
def test_an_invalid_id_or_revision_is_named_as_such(tmp_path, args, needle):
    one_line_error(planner("estimate", *args, home=tmp_path), needle)

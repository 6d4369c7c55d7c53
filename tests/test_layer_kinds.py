"""The meta forwards run one layer of each kind (planner/model/meta_kinds.py): every architecture
transformers ships gives the very spec the full-depth forwards give, a uniform stack runs two layers
whatever its depth, patterns run one period, the model is left as it was, and a slow first build
says so on stderr while transformers' own log lines stay out of it."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import warnings

import pytest
from architectures import default_config, mapping_types
from memtracker_reference import MemTrackerPeaks

from planner.model import meta_activations
from planner.model.meta_build import build_meta_model, spec_from_meta
from planner.model.meta_kinds import layer_kinds, only_first_of_each_kind
from planner.model.progress import slow_step_notice

pytestmark = [pytest.mark.hf]


def _spec(cfg: dict, monkeypatch, kinds: str):
    monkeypatch.setenv("PLANNER_CACHE_DIR", "off")
    monkeypatch.setenv("PLANNER_META_KINDS", kinds)
    return spec_from_meta(cfg, "m")


def _config_or_skip(model_type: str, layers: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cfg = default_config(model_type, layers)
            return cfg, build_meta_model(cfg)[0]
        except Exception as e:  # noqa: BLE001
            pytest.skip(f"transformers cannot build {model_type} from its default config: {type(e).__name__}")


@pytest.mark.slow
@pytest.mark.parametrize(("task", "model_type"), mapping_types())
def test_kinds_give_the_full_forwards_spec(hf, task, model_type, monkeypatch):
    """8 layers per stack (twice that where a config class rejects the cut): the cache per layer,
    the activation fits, the eager fits and the head's phase all equal the full forwards' figures."""
    cfg, model = _config_or_skip(model_type, 8)
    monkeypatch.setenv("PLANNER_META_FORWARD", "off")
    text_layers = [u.name for u in _spec(cfg, monkeypatch, "on").units if u.kind == "decoder_layer"]
    monkeypatch.delenv("PLANNER_META_FORWARD")
    if not text_layers or all(r == n for n, r in layer_kinds(model, text_layers).rep.items()):
        pytest.skip(f"{model_type}: every layer is a kind of its own at this depth (nothing is shared)")
    assert _spec(cfg, monkeypatch, "on") == _spec(cfg, monkeypatch, "off")


@pytest.mark.slow
@pytest.mark.parametrize(("task", "model_type"), mapping_types())
def test_the_tracker_counts_what_memtracker_counts(hf, task, model_type, monkeypatch):
    """2 layers: every peak the planner's tracker (meta_peaks.py) reads equals torch's MemTracker's."""
    cfg, _ = _config_or_skip(model_type, 2)
    fast = _spec(cfg, monkeypatch, "on")
    monkeypatch.setattr(meta_activations, "ModulePeaks", MemTrackerPeaks)
    assert _spec(cfg, monkeypatch, "on") == fast


def _neox(layers: int) -> dict:
    from transformers import AutoConfig

    return AutoConfig.for_model("gpt_neox", num_hidden_layers=layers, hidden_size=64, num_attention_heads=4,
                                intermediate_size=128, vocab_size=512).to_dict()


def _layer_calls(cfg: dict) -> dict[str, int]:
    """Decoder-layer forwards run while the spec is built, by layer name."""
    import torch

    model, hf_config = build_meta_model(cfg)
    names = {m: n for n, m in model.named_modules()}
    calls: dict[str, int] = {}

    def count(module, args):
        if type(module).__name__ == "GPTNeoXLayer":
            calls[names[module]] = calls.get(names[module], 0) + 1

    from planner.model.meta_build import spec_from_module

    hook = torch.nn.modules.module.register_module_forward_pre_hook(count)
    try:
        spec_from_module(model, hf_config, cfg, "m", torch.bfloat16)
    finally:
        hook.remove()
    return calls


def test_a_uniform_stack_runs_two_layers_at_any_depth(hf, monkeypatch):
    monkeypatch.setenv("PLANNER_CACHE_DIR", "off")
    shallow, deep = _layer_calls(_neox(6)), _layer_calls(_neox(96))
    assert set(shallow) == set(deep) == {"gpt_neox.layers.0", "gpt_neox.layers.1"}
    assert shallow == deep  # the same forwards, whatever the depth
    a, b = (spec_from_meta(_neox(n), "m") for n in (6, 96))
    assert [u.activation_per_token for u in a.units if u.kind == "decoder_layer"][1] == \
        [u.activation_per_token for u in b.units if u.kind == "decoder_layer"][95]


def test_a_layer_pattern_runs_one_period(hf):
    from transformers import AutoConfig

    types = ["linear_attention"] * 3 + ["full_attention"]
    cfg = AutoConfig.for_model("qwen3_next", num_hidden_layers=16, layer_types=types * 4, hidden_size=64,
                               intermediate_size=128, moe_intermediate_size=32, num_experts=4, num_experts_per_tok=2, num_attention_heads=4,
                               num_key_value_heads=2, head_dim=16, linear_num_value_heads=4, linear_num_key_heads=2,
                               vocab_size=512).to_dict()
    model, _ = build_meta_model(cfg)
    names = [f"model.layers.{i}" for i in range(16)]
    kinds = layer_kinds(model, names)
    # (first), (linear after linear), (full after linear), (linear after full): layers 0, 1, 3, 4
    assert sorted(set(kinds.index_rep.values())) == [0, 1, 3, 4]
    assert kinds.index_rep[15] == 3 and kinds.index_rep[12] == 4 and kinds.index_rep[14] == 1
    assert len(kinds.skipped) == 11


def test_the_model_is_left_as_it_was(hf):
    import torch

    model, _ = build_meta_model(_neox(12))
    before = [id(m) for m in model.gpt_neox.layers]
    params = sum(p.numel() for p in model.parameters())
    kinds = layer_kinds(model, [f"gpt_neox.layers.{i}" for i in range(12)])
    with only_first_of_each_kind(kinds):
        assert sum(p.numel() for p in model.parameters()) < params / 2  # the skipped layers are out
        assert isinstance(model.gpt_neox.layers[7], type(model.gpt_neox.layers[0]))
        assert model.gpt_neox.layers[7].attention.layer_idx == 7  # attributes read from the real layer
        model(input_ids=torch.zeros((1, 3), dtype=torch.long, device="meta"))
    assert [id(m) for m in model.gpt_neox.layers] == before
    assert sum(p.numel() for p in model.parameters()) == params


def test_kinds_off_runs_every_layer(hf, monkeypatch):
    monkeypatch.setenv("PLANNER_META_KINDS", "off")
    model, _ = build_meta_model(_neox(5))
    kinds = layer_kinds(model, [f"gpt_neox.layers.{i}" for i in range(5)])
    assert not kinds.skipped and all(k == n for n, k in kinds.rep.items())


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_slow_first_build_says_so_on_a_terminal(monkeypatch):
    import time

    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PLANNER_PROGRESS", raising=False)
    term, pipe = _Terminal(), io.StringIO()
    with slow_step_notice("building x", term, after=0.05):
        time.sleep(0.3)
    with slow_step_notice("building x", pipe, after=0.05):
        time.sleep(0.3)
    with slow_step_notice("quick", term, after=5):
        pass
    lines = term.getvalue().splitlines()
    assert lines[0] == "planner: building x ..." and lines[1].startswith("planner: building x: done in 0.")
    assert len(lines) == 2 and pipe.getvalue() == ""
    failed = _Terminal()
    with pytest.raises(ValueError), slow_step_notice("failing", failed, after=0.01):
        time.sleep(0.2)
        raise ValueError
    assert failed.getvalue() == "planner: failing ...\n"  # no "done" after a failure


@pytest.mark.slow
def test_library_log_lines_stay_out_of_the_terminal(hf, tmp_path):
    """Qwen3-Next's gated delta net logs kernel fallbacks on every meta forward."""
    from transformers import AutoConfig

    cfg = AutoConfig.for_model("qwen3_next", num_hidden_layers=4, num_experts=16).to_dict()
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    env = dict(os.environ, PLANNER_CACHE_DIR="off", PLANNER_PROGRESS="never")
    out = subprocess.run([sys.executable, "-m", "planner", "estimate", str(path)], capture_output=True, text=True,
                         env=env, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""

"""Checkpoint folders load with the planned map as saved by transformers: a tied-embedding model
(the map must name lm_head) and a VLM (module names model.language_model.* although the
checkpoint's tensor names differ), each placed on CPU + disk, loaded with from_pretrained
(device_map=...) and run through generate with the same tokens as the model loaded whole."""

from __future__ import annotations

import pytest

from planner import profile
from planner.hardware.inventory import build_inventory
from planner.placement.plan import make_plan

pytestmark = pytest.mark.hf
TIED = dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=3, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=300, tie_word_embeddings=True)
VLM = dict(model_type="qwen2_vl", vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2,
                                                        patch_size=14, spatial_merge_size=2),
           text_config=dict(model_type="qwen2_vl_text", hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                            num_attention_heads=4, num_key_value_heads=2, vocab_size=300, rope_scaling={"type": "mrope",
                            "mrope_section": [2, 3, 3]}), vision_start_token_id=290, image_token_id=291, video_token_id=292)


@pytest.mark.parametrize(("name", "cfg", "auto"), [("tied", TIED, "AutoModelForCausalLM"),
                                                   ("vlm", VLM, "AutoModelForImageTextToText")])
def test_planned_map_loads_and_generates(hf, tmp_path, name, cfg, auto):
    transformers, _, torch = hf
    cls = getattr(transformers, auto)
    torch.manual_seed(0)
    model = cls.from_config(transformers.AutoConfig.for_model(**cfg), dtype=torch.float32).eval()
    folder = tmp_path / name
    model.save_pretrained(folder)
    prof = profile(str(folder), dtype="fp32", prompt_tokens=8)
    plan = make_plan(prof, build_inventory(cpu=int(prof.weights_bytes * 0.5), disk="1GiB"), diagnose=False)
    assert plan.status == "optimal" and set(plan.device_map.values()) == {"cpu", "disk"}, plan.device_map
    if name == "tied":
        assert "lm_head" in [u.name for u in prof.spec.units]  # tied: no tensor of its own, still a module to map
    else:
        assert any(k.startswith("model.language_model") for k in plan.device_map)
    loaded = cls.from_pretrained(folder, dtype=torch.float32, device_map=plan.device_map, max_memory=plan.max_memory,
                                 offload_folder=str(tmp_path / "offload")).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        want = model.generate(ids, max_new_tokens=4, do_sample=False)
        got = loaded.generate(ids, max_new_tokens=4, do_sample=False)
    assert torch.equal(got, want)

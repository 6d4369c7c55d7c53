"""The HTML report rendered for real in headless Chromium (Debian's package): the charts drawn
(counted by the page itself once Chart.js has run), one canvas per panel of the sweep's small
multiples, the tables made sortable and filterable, nothing fetched from the network, and a
screenshot that is not blank."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from conftest import run_cli

from planner.answers.sweep_panels import sweep_panels

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
SWEEP = """model: Meta-Llama-3-8B
inventory: {gpus: [RTX-4090], cpu: 64GiB}
sweep:
  workload.prompt_tokens: [2048, 8192, 32768]
  workload.kv_dtype: [bf16, fp8]
  workload.quant: [none, nf4]
"""


def _chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--virtual-time-budget=8000", *args], capture_output=True, text=True, timeout=timeout)


def _self_contained(page: str) -> None:
    assert "<script src" not in page and "<link" not in page and "@import" not in page  # works offline


@needs_chromium
def test_whatif_report_draws_every_panel_in_chromium(tmp_path):
    import json

    spec = tmp_path / "sweep.yaml"
    spec.write_text(SWEEP)
    out, rows_file = tmp_path / "report.html", tmp_path / "rows.json"
    r = run_cli("whatif", str(spec), "--html", str(out), "--json", str(rows_file))
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    _self_contained(page)
    rows = json.loads(rows_file.read_text())
    panels = sweep_panels("plan", rows)
    expected = sum(len(p.panel_labels) for p in panels) + 1  # the small multiples, and the first plan's devices
    dom = _chromium("--dump-dom", out.as_uri()).stdout
    assert re.search(r'data-charts-drawn="(\d+)"', dom).group(1) == str(expected)
    assert dom.count("<canvas") == expected
    assert dom.count('type="search"') == 1  # the table of points got its filter
    body = dom.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == len(rows) == 12


@needs_chromium
def test_plan_report_has_devices_and_layer_map_and_is_not_blank(tmp_path):
    out, shot = tmp_path / "plan.html", tmp_path / "plan.png"
    r = run_cli("plan", "Llama-3.1-70B", "--gpu", "RTX-4090", "--gpu", "RTX-3090", "--cpu", "128GiB", "--html", str(out))
    assert r.returncode == 0, r.stderr
    _self_contained(out.read_text())
    dom = _chromium("--dump-dom", out.as_uri()).stdout
    assert 'data-charts-drawn="1"' in dom
    layer_map = dom.split('id="layer-map">')[1].split("</div>")[0]
    assert layer_map.count("<span") == 84 and "model.layers.40 on" in layer_map  # one cell per unit, named on hover
    done = _chromium("--window-size=1400,1000", f"--screenshot={shot}", out.as_uri())
    assert shot.exists(), done.stderr
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1000, 1400)
    assert pixels[..., :3].std() > 0.05  # drawn, not a blank page

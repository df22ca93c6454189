"""The nightly HTML report in a real headless browser at 1280 px (issue 22 item 4): what failed comes first and its
reason (the `why` column) is on the first screen, nothing overflows sideways (full sha256 values pushed the `why`
column off-screen), and the last x-axis label of each plot is inside its plot.

Debian's chromium lays the page out; a small script appended to a copy of the report measures the elements and
writes the numbers into the DOM, which ``--dump-dom`` prints. Skipped (with the reason) where chromium is absent;
.ci/run installs it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from builder.ops.nightly import BuildAttempt, NightlyOptions, run_nightly
from tests.ops.fakes import synthetic_manifest, write_build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
)
WIDTH, HEIGHT = 1280, 800
TRT = ("a10-fp16", "a10-fp32", "a10-int8", "a100-fp16-dynamic", "b200-fp16", "h100-fp16", "t4-fp16")

MEASURE = """
<script>
const box = (el) => { const r = el.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top,
  bottom: r.bottom}; };
const rows = [...document.querySelectorAll("table")[0].querySelectorAll("tr")].slice(1);
const first = rows[0];
const plots = [...document.querySelectorAll("svg.latency")].map((svg) => {
  const labels = [...svg.querySelectorAll("text")].filter((t) => /^\\d\\d-\\d\\d \\d\\d:\\d\\d$/.test(t.textContent));
  return {svg: box(svg), last: labels.length ? box(labels[labels.length - 1]) : null};
});
const whyCells = [...document.querySelectorAll("tr")].map((tr) => tr.lastElementChild).filter((c) => c.tagName === "TD")
  .map(box);  // the last column of every table: the reason (`why`)
document.body.setAttribute("data-geometry", JSON.stringify({
  scrollWidth: document.documentElement.scrollWidth,
  headline: document.querySelector("p strong").textContent,
  firstProfile: first.querySelector("td").textContent,
  firstWhy: box(first.lastElementChild), firstWhyText: first.lastElementChild.textContent,
  whyCells, plots}));
</script>
"""


def _night_with_a_regression(tmp_path: Path, profiles_dir: Path) -> Path:
    """Two nights over 7 skipped TensorRT profiles, cpu-fp32 (no drift) and tiny-cpu, whose second build has other
    model bytes, a slower p50 and a new base image (full sha256 values in the change table)."""
    artifacts = tmp_path / "artifacts"
    count = iter(range(1, 100))

    def runner(ref: str) -> BuildAttempt:
        n = next(count)
        manifest = synthetic_manifest(ref, n=n, p50=10.0 if n <= 2 else 14.0)
        files = None
        if ref == "tiny-cpu" and n > 2:
            manifest["environment"]["image"]["base"] = "python@sha256:" + "9" * 64
            files = {"model.onnx": b"onnx-bytes", "model.ort.onnx": b"other model", "metadata.json": b"{}"}
        return BuildAttempt(ref, write_build(artifacts, manifest, files))

    options = NightlyOptions(profiles_dir, artifacts, tmp_path / "reports", profiles=(*TRT, "cpu-fp32", "tiny-cpu"))
    start = datetime(2026, 11, 30, 2, 30, tzinfo=timezone.utc)
    for day in range(2):
        result = run_nightly(
            options, runner, host_check=lambda p: "no GPU here" if p.name in TRT else None,
            log=lambda line: None, now=start + timedelta(days=day),
        )  # fmt: skip
    assert result.drifted == ["tiny-cpu"]
    return result.paths["html"]


def _geometry(html: Path, tmp_path: Path) -> dict:
    page = tmp_path / "measured.html"
    page.write_text(html.read_text().replace("</body>", MEASURE + "</body>"))
    done = subprocess.run(
        [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},{HEIGHT}",
         f"--user-data-dir={tmp_path / 'chromium'}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = re.search(r'data-geometry="([^"]*)"', done.stdout)
    assert found, done.stderr[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def test_the_report_shows_the_regression_first_within_the_first_screen_at_1280px(tmp_path, profiles_dir):
    geometry = _geometry(_night_with_a_regression(tmp_path, profiles_dir), tmp_path)
    assert geometry["headline"].startswith("FAILED: 1 of 2 profile(s) drifted, regressed or failed, 7 skipped")
    assert geometry["firstProfile"] == "tiny-cpu"
    why = geometry["firstWhy"]
    assert "regressed" in geometry["firstWhyText"] or "latency" in geometry["firstWhyText"]
    assert why["right"] <= WIDTH and why["bottom"] <= HEIGHT, f"the reason is off the first screen: {why}"
    assert geometry["scrollWidth"] <= WIDTH, "the page scrolls sideways (a table overflows)"
    assert all(cell["right"] <= WIDTH for cell in geometry["whyCells"]), geometry["whyCells"]
    for plot in geometry["plots"]:
        if plot["last"]:
            assert plot["last"]["right"] <= plot["svg"]["right"], f"last x-axis label cut: {plot}"

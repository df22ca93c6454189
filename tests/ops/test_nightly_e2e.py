"""`python -m builder nightly --bare` on a tiny CPU profile: baseline, no drift, then a changed input -> exit 7.

Real builds (ultralytics export, ONNX Runtime model, Polygraphy verify, benchmark), at the default latency
threshold: the second night runs beside a CPU hog (issue 22: a loaded machine must not page anyone). Latency
gating of other model bytes is tested in test_latency_ab.py, test_drift.py and test_nightly.py.
"""

from __future__ import annotations

import json

import pytest

from builder.cli import main
from builder.record.layout import ArtifactLayout
from tests.ops.test_latency_ab import cpu_hog


@pytest.mark.slow
def test_nightly_bare_twice_is_no_drift_and_a_changed_input_drifts_with_exit_7(
    tmp_path, profiles_dir, quiet_env, capsys
):
    args = [
        "nightly", "--bare", "--profiles", "tiny-cpu", "--profiles-dir", str(profiles_dir),
        "--artifacts", str(tmp_path / "artifacts"), "--reports", str(tmp_path / "reports"),
        "--models", str(tmp_path / "models"), "--cache-dir", str(tmp_path / "cache"),
        "--keep", "2",
    ]  # fmt: skip

    assert main(args) == 0
    with cpu_hog():
        assert main(args) == 0
    out = capsys.readouterr()
    assert "NIGHTLY-OK 1 profile(s) built, no drift, 0 skipped" in out.out
    reports = sorted((tmp_path / "reports").glob("*/report.json"))
    assert len(reports) == 2
    second = json.loads(reports[1].read_text())["profiles"][0]
    assert second["result"] == "no drift"
    assert not [c for c in second["changes"] if c["area"] == "artifact" or c["severity"] != "info"]
    assert second["latency_comparison"]["kind"] == "same-bytes"

    tiny = profiles_dir / "tiny-cpu.yaml"
    tiny.write_text(tiny.read_text() + "verify:\n  seed: 1\n")
    assert main(args) == 7
    err = capsys.readouterr().err
    assert "NIGHTLY-FAIL tiny-cpu: drift: profile.verify.seed: 0 -> 1 (changed profile setting)" in err
    assert "ERROR nightly: 1 profile(s) drifted or regressed: tiny-cpu" in err and "TIP " in err

    reports = sorted((tmp_path / "reports").glob("*/"))
    html = (reports[-1] / "report.html").read_text()
    assert html.count("<circle") == 9  # three nights x p50/p90/p99
    assert len(ArtifactLayout(tmp_path / "artifacts", "tiny-cpu").good_builds()) == 2  # --keep 2

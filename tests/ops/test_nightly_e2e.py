"""`python -m builder nightly --bare` on a tiny CPU profile: baseline, no drift, then a changed input -> exit 7.

Real builds (ultralytics export, ONNX Runtime model, Polygraphy verify, benchmark). The latency threshold
is set very high here: on a shared 2-core machine identical CPU runs differ by tens of percent. Latency
gating is tested with synthetic manifests in test_drift.py / test_nightly.py.
"""

from __future__ import annotations

import json

import pytest

from builder.cli import main
from builder.layout import ArtifactLayout


@pytest.mark.slow
def test_nightly_bare_twice_is_no_drift_and_a_changed_input_drifts_with_exit_7(
    tmp_path, profiles_dir, quiet_env, capsys
):
    args = [
        "nightly", "--bare", "--profiles", "tiny-cpu", "--profiles-dir", str(profiles_dir), "--artifacts", str(tmp_path / "artifacts"),
        "--reports", str(tmp_path / "reports"), "--models", str(tmp_path / "models"), "--cache-dir", str(tmp_path / "cache"),
        "--latency-threshold", "50", "--keep", "2",
    ]  # fmt: skip

    assert main(args) == 0
    assert main(args) == 0
    out = capsys.readouterr()
    assert "NIGHTLY-OK 1 profile(s) built, no drift, 0 skipped" in out.out
    reports = sorted((tmp_path / "reports").glob("*/report.json"))
    assert len(reports) == 2
    second = json.loads(reports[1].read_text())["profiles"][0]
    assert second["result"] == "no drift"
    assert not [c for c in second["changes"] if c["area"] == "artifact" or c["severity"] != "info"]

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

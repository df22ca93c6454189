"""Issue 5 on the real Docker engine: nightly through the launcher twice (no drift), a changed input (drift,
exit 7), then a bundle that round-trips through `verify` in a clean folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.host.docker_engine import ImageInfo
from tests.support import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "builder", *args], cwd=REPO, capture_output=True, text=True, timeout=900
    )


def test_nightly_in_docker_then_bundle_round_trip(workspace: Path, cpu_image: ImageInfo, tmp_path: Path) -> None:
    common = [
        "--profiles-dir",
        str(workspace / "profiles"),
        "--artifacts",
        str(tmp_path / "artifacts"),
        "--models",
        str(workspace / "models"),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    (workspace / "models").mkdir(exist_ok=True)
    nightly = [
        "nightly",
        "--profiles",
        "e2e-cpu",
        "--no-image-rebuild",
        "--reports",
        str(tmp_path / "reports"),
        "--latency-threshold",
        "50",
        *common,
    ]

    first, second = _cli(*nightly), _cli(*nightly)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert second.returncode == 0 and "no drift" in second.stdout, second.stdout[-2000:] + second.stderr[-2000:]
    report = json.loads(sorted((tmp_path / "reports").glob("*/report.json"))[-1].read_text())
    assert report["profiles"][0]["result"] == "no drift"
    latest = tmp_path / "artifacts" / "e2e-cpu" / "latest"
    assert json.loads((latest / "manifest.json").read_text())["environment"]["in_container"] is True

    profile = workspace / "profiles" / "e2e-cpu.yaml"
    original = profile.read_text()
    try:
        assert "verify:" not in original
        profile.write_text(original + "verify:\n  seed: 3\n")
        third = _cli(*nightly)
    finally:
        profile.write_text(original)
    assert third.returncode == 7, third.stdout[-2000:] + third.stderr[-2000:]
    assert "NIGHTLY-FAIL e2e-cpu: drift: profile.verify.seed: 0 -> 3" in third.stderr

    bundle = tmp_path / "e2e.tar.gz"
    made = _cli("bundle", "--profile", "e2e-cpu", "--artifacts", str(tmp_path / "artifacts"), "--output", str(bundle))
    assert made.returncode == 0, made.stderr
    clean = tmp_path / "ops-host"
    clean.mkdir()
    shutil.copy(bundle, clean / bundle.name)
    verified = subprocess.run(
        [sys.executable, "-m", "builder", "verify", bundle.name], cwd=clean, capture_output=True, text=True, timeout=300
    )
    assert verified.returncode == 0 and "GO:" in verified.stdout, verified.stdout + verified.stderr
    assert "PASS load" in verified.stdout

"""``nightly --farm``: the nightly's builds go through the farm (here refused: no token mode, so nothing runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.farm  # no Ray needed: runs wherever the suite runs


def test_nightly_on_the_farm_reports_a_refused_cluster_per_profile(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    argv = [sys.executable, "-m", "builder", "nightly", "--farm", "127.0.0.1:9", "--profiles", "cpu-fp32",
            "--profiles-dir", str(REPO / "profiles"), "--artifacts", str(tmp_path / "artifacts"),
            "--reports", str(tmp_path / "reports")]  # fmt: skip
    result = subprocess.run(argv, check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 4, result.stdout + result.stderr  # failed builds, no drift
    assert "NIGHTLY-FAIL" in result.stderr and "RAY_AUTH_MODE is not 'token'" in result.stderr
    assert not (tmp_path / "artifacts" / "cpu-fp32" / "builds").exists()

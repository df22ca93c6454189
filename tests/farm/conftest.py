"""Fixtures of the farm tests: one real local Ray cluster per session (head + 2 workers), tiny profiles.

Skipped, with the reason, where Ray is not installed (``pip install -e '.[farm]'``) or private network
namespaces cannot be made (the cluster must not be reachable from outside).
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.farm.localcluster import LocalRayCluster, namespace_support
from tests.support import tiny_profile_text, write_tiny_profile

#: farm-k's build must still run when the test kills its node: the benchmark alone takes about 20 s
SLOW = tiny_profile_text("farm-k").replace("  iterations: 3\n", "  iterations: 1000000\n  budget_s: 20\n")
TINY_TRT = """\
name: {name}
extends: t4-fp16
description: YOLO11n at 64x64 for a T4, for the farm tests (routing only, no TensorRT here)
model: {{yaml: yolo11n.yaml, seed: 0}}
accuracy: null
imgsz: 64
"""
PROFILES = Path(__file__).resolve().parents[2] / "profiles"
#: the stand-ins for GPU types: each worker advertises an accelerator type, a pool of its own, and a shared pool
WORKERS = {
    "alpha": {"accelerator_type:FAKE_A": 1, "pool:alpha": 1, "pool:shared": 1},
    "beta": {"accelerator_type:T4": 1, "pool:beta": 1, "pool:shared": 1},
}


def _skip_reason() -> str | None:
    if importlib.util.find_spec("ray") is None:
        return "Ray is not installed (pip install -e '.[farm]' or -r requirements/farm.txt)"
    return namespace_support()


@pytest.fixture(scope="session")
def farm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRayCluster]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    cluster = LocalRayCluster(tmp_path_factory.mktemp("ray"))
    try:
        cluster.start(WORKERS, gpus={"beta": 1})
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    """profiles/ (tiny CPU profiles farm-*, a tiny T4 profile t4-tiny), artifacts/, models/, reports/."""
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    for base in ("cpu-fp32.yaml", "_yolo11n-640.yaml", "_shapes-256.yaml", "_tensorrt-base.yaml", "t4-fp16.yaml"):
        shutil.copy(PROFILES / base, profiles / base)
    for name in ("farm-a", "farm-b", "farm-c", "farm-d"):
        write_tiny_profile(profiles, name)
    write_tiny_profile(profiles, "farm-k", SLOW)
    (profiles / "t4-tiny.yaml").write_text(TINY_TRT.format(name="t4-tiny"))
    for folder in ("artifacts", "models", "reports", "nodes"):
        (tmp_path / folder).mkdir()
    return tmp_path


def farm_argv(workdir: Path, *args: str) -> list[str]:
    """``python -m builder farm`` with this test's folders and ARGS."""
    import sys

    return [sys.executable, "-m", "builder", "farm", "--profiles-dir", str(workdir / "profiles"),
            "--artifacts", str(workdir / "artifacts"), "--models", str(workdir / "models"),
            "--reports", str(workdir / "reports"), "--node-root", str(workdir / "nodes"),
            "--runner", "bare", *args]  # fmt: skip

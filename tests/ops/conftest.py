"""Fixtures of the ops tests: a copied profiles folder with a tiny CPU profile, one real build."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support import REPO

TINY_CPU = """\
name: tiny-cpu
extends: cpu-fp32
description: YOLO11n at 64x64 on ONNX Runtime, for the ops tests
imgsz: 64
benchmark:
  warmup: 1
  iterations: 5
"""


def _quiet_environment(config_dir: Path) -> None:
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("POLYGRAPHY_AUTOINSTALL_DEPS", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))


def copy_profiles(target: Path) -> Path:
    """The repository's profiles plus ``tiny-cpu.yaml``, in ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for path in (REPO / "profiles").glob("*.yaml"):
        shutil.copy(path, target / path.name)
    (target / "tiny-cpu.yaml").write_text(TINY_CPU)
    return target


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    return copy_profiles(tmp_path / "profiles")


@pytest.fixture(scope="session")
def tiny_cpu_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real, published build of ``tiny-cpu`` (export, ORT model, verify, benchmark); shared, read-only."""
    from builder.pipeline import BuildSettings, run_build
    from builder.profile import load_profile

    root = tmp_path_factory.mktemp("tiny-build")
    _quiet_environment(root / "yolo-config")
    profiles = copy_profiles(root / "profiles")
    settings = BuildSettings(artifacts=root / "artifacts", models=root / "models", force=True, log=lambda line: None)
    return run_build(load_profile("tiny-cpu", profiles), settings).build_dir


@pytest.fixture
def quiet_env(tmp_path: Path) -> None:
    _quiet_environment(tmp_path / "yolo-config")

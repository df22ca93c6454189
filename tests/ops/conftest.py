"""Fixtures of the ops tests: a copied profiles folder with a tiny CPU profile, the session's real build."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import copy_profiles, write_tiny_profile


def _quiet_environment(config_dir: Path) -> None:
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    os.environ.setdefault("POLYGRAPHY_AUTOINSTALL_DEPS", "0")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    """The repository's profiles plus ``tiny-cpu.yaml`` (tests/data/profiles)."""
    target = copy_profiles(tmp_path / "profiles")
    write_tiny_profile(target)
    return target


@pytest.fixture(scope="session")
def tiny_cpu_build(published_tiny: Path) -> Path:
    """The build folder of the session's published tiny build (tests/conftest.py: export, ORT model, verify,
    benchmark); shared, read-only."""
    from tests.faults.harness import latest_target

    build = latest_target(published_tiny / "artifacts" / "tiny")
    assert build is not None
    return build


@pytest.fixture
def quiet_env(tmp_path: Path) -> None:
    _quiet_environment(tmp_path / "yolo-config")

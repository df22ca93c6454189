"""Fixtures of the host tests: a profiles folder, host settings in a temp dir, a fake engine with the images."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from builder.host.image import SOURCE_LABEL, repo_root, source_digest
from builder.host.settings import host_settings
from builder.host.spec import HostSettings
from tests.host.fakes import FakeEngine
from tests.support import REPO

TINY_CPU = """\
name: tiny-cpu
extends: cpu-fp32
description: YOLO11n at 64x64 on ONNX Runtime, for the host tests
imgsz: 64
"""


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    target = tmp_path / "profiles"
    target.mkdir()
    for path in (REPO / "profiles").glob("*.yaml"):
        shutil.copy(path, target / path.name)
    (target / "tiny-cpu.yaml").write_text(TINY_CPU)
    return target


@pytest.fixture
def host(tmp_path: Path, profiles_dir: Path) -> HostSettings:
    return host_settings(profiles_dir, tmp_path / "models", tmp_path / "artifacts", tmp_path / "cache")


@pytest.fixture
def engine() -> FakeEngine:
    """A fake engine holding current images of both flavours."""
    fake = FakeEngine()
    for flavour, digit in (("cpu", "1"), ("trt", "2")):
        labels = {
            SOURCE_LABEL: source_digest(repo_root(), flavour),
            "engine-foundry.base.ref": "base",
            "engine-foundry.base.pinned": "true",
        }
        fake.add_image(f"engine-foundry:{flavour}", "sha256:" + digit * 64, labels)
    return fake

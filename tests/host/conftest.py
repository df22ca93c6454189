"""Fixtures of the host tests: a profiles folder, host settings in a temp dir, a fake engine with the images."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.host.image import SOURCE_LABEL, repo_root, source_digest
from builder.host.settings import host_settings
from builder.host.spec import HostSettings
from tests.host.fakes import FakeEngine
from tests.support import copy_profiles, link_shipped_models, write_tiny_profile


@pytest.fixture
def profiles_dir(tmp_path: Path) -> Path:
    """The repository's profiles plus ``tiny-cpu.yaml`` (tests/data/profiles)."""
    target = copy_profiles(tmp_path / "profiles")
    write_tiny_profile(target)
    return target


@pytest.fixture
def host(tmp_path: Path, profiles_dir: Path) -> HostSettings:
    models = link_shipped_models(tmp_path / "models")  # the GPU profiles build the trained fixture
    return host_settings(profiles_dir, models, tmp_path / "artifacts", tmp_path / "cache")


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

"""Fixtures of the fixture-model tests: the shipped record and a regenerated val split."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Before anything imports ultralytics: no run-time installs, no network, no settings in $HOME.
os.environ["YOLO_AUTOINSTALL"] = "false"
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "engine-foundry-tests-ultralytics"))

from fixture_trainer import pin
from fixture_trainer.shapes import DatasetInfo, ShapesSpec, generate
from tests.support import REPO

MODELS = REPO / "models"
CHECKPOINT = MODELS / pin.CHECKPOINT


@pytest.fixture(scope="session")
def record() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MODELS / pin.RECORD).read_text())
    return loaded


@pytest.fixture(scope="session")
def val_split(tmp_path_factory: pytest.TempPathFactory) -> DatasetInfo:
    """The fixture's val split, regenerated (every image is seeded on its own, so train is not needed)."""
    return generate(tmp_path_factory.mktemp("shapes"), ShapesSpec(), splits=("val",))

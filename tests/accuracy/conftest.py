"""A models folder as the shipped ``cpu-int8`` profile expects it: the fixture checkpoint, the regenerated val split
(``fixtures/shapes``) and the first 64 train images for calibration, made once per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ["YOLO_AUTOINSTALL"] = "false"  # before anything imports ultralytics
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "engine-foundry-tests-ultralytics"))

from fixture_trainer.shapes import ShapesSpec, generate
from tests.fixture_trainer.conftest import CHECKPOINT

CALIBRATION_IMAGES = 64  # what profiles/cpu-int8.yaml's int8.samples asks for


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("accuracy-models")
    (models / "fixtures").mkdir()
    shutil.copyfile(CHECKPOINT, models / "fixtures" / CHECKPOINT.name)
    # each image is seeded by (seed, split, index): train=64 gives the first 64 train images of the full set
    generate(models / "fixtures" / "shapes", ShapesSpec(train=CALIBRATION_IMAGES), splits=("train", "val"))
    return models

"""The shapes data shipped in models/fixtures/shapes is exactly the generator's output.

It is the default profile's accuracy set (the val split) and cpu-int8's calibration images (the first 64 train
images): `python3 -m builder fixture-data --out models/fixtures/shapes --train 64` writes it
(docs/dev/fixture-model.md).
Pixels are compared decoded, so a zlib that compresses differently still matches.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from builder.yolo.preprocess import load_image
from fixture_trainer.shapes import ShapesSpec, generate
from tests.support import REPO

SHIPPED = REPO / "models" / "fixtures" / "shapes"
CALIBRATION_IMAGES = 64


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffix != ".cache")


@pytest.mark.slow  # regenerates the whole shipped data set
def test_the_shipped_shapes_data_is_what_the_generator_makes(tmp_path: Path) -> None:
    made = generate(tmp_path / "shapes", ShapesSpec(train=CALIBRATION_IMAGES), ("train", "val"))
    assert _files(SHIPPED) == _files(made.root)
    for name in _files(SHIPPED):
        if name.endswith(".png"):
            assert np.array_equal(load_image(SHIPPED / name), load_image(made.root / name)), name
        else:
            assert (SHIPPED / name).read_text() == (made.root / name).read_text(), name


def test_the_shipped_data_is_tracked_by_git() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "models/fixtures/shapes"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout (an unpacked archive): no tracked files to compare")
    assert sorted(tracked) == sorted(f"models/fixtures/shapes/{name}" for name in _files(SHIPPED))


def test_fixture_data_refuses_a_train_count_out_of_range(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "builder", "fixture-data", "--out", str(tmp_path / "d"), "--train", "0"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stderr
    assert "ERROR fixture-data --train 0 is out of range" in result.stderr and "TIP pass 1 to 800" in result.stderr
    assert not (tmp_path / "d").exists()

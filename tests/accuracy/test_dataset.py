"""The labelled split reader (builder/yolo/dataset.py) and its digest in the build key."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from builder.profile import AccuracySpec
from builder.record.buildkey import build_key_for
from builder.yolo.dataset import DatasetError, load_split, read_labels
from fixture_trainer.shapes import ShapesSpec, generate
from tests.support import make_profile


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    generate(tmp_path / "shapes", ShapesSpec(train=1, val=3), splits=("val",))
    return tmp_path


def test_reads_ultralytics_layout(models: Path) -> None:
    split = load_split(models, "shapes/data.yaml", "val")
    assert [p.name for p in split.images] == ["00000.png", "00001.png", "00002.png"]
    assert split.names == {0: "circle", 1: "square", 2: "triangle", 3: "ring", 4: "cross"}
    assert split.label_path(split.images[0]) == models / "shapes" / "labels" / "val" / "00000.txt"
    assert len(load_split(models, "shapes/data.yaml", "val", samples=2).images) == 2


def test_labels_become_pixel_corners(tmp_path: Path) -> None:
    label = tmp_path / "a.txt"
    label.write_text("3 0.5 0.25 0.5 0.1\n")
    assert read_labels(label, 200, 100).tolist() == [[3.0, 25.0, 40.0, 75.0, 60.0]]
    assert read_labels(tmp_path / "missing.txt", 10, 10).shape == (0, 5)  # no label file: no objects
    label.write_text("3 0.5 0.5\n")
    with pytest.raises(DatasetError, match="class cx cy w h"):
        read_labels(label, 10, 10)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("val: images/val\nnames: 7\n", "`names` must be a list"),
        ("names: [a]\n", "split 'val' is None"),
        ("path: ../..\nval: images/val\nnames: [a]\n", "outside the models folder"),
        ("val: nowhere\nnames: [a]\n", "does not exist"),
    ],
)
def test_malformed_data_yaml_is_refused_with_the_fix(models: Path, yaml_text: str, message: str) -> None:
    (models / "shapes" / "data.yaml").write_text(yaml_text)
    with pytest.raises(DatasetError, match=message) as caught:
        load_split(models, "shapes/data.yaml", "val")
    assert caught.value.hint


def test_too_few_images_for_samples(models: Path) -> None:
    with pytest.raises(DatasetError, match="holds 3 image"):
        load_split(models, "shapes/data.yaml", "val", samples=5)


def test_digest_follows_images_labels_and_yaml(models: Path) -> None:
    first = load_split(models, "shapes/data.yaml", "val").content_sha256()
    assert load_split(models, "shapes/data.yaml", "val").content_sha256() == first
    label = models / "shapes" / "labels" / "val" / "00001.txt"
    label.write_text(label.read_text() + "0 0.5 0.5 0.1 0.1\n")
    second = load_split(models, "shapes/data.yaml", "val").content_sha256()
    image = models / "shapes" / "images" / "val" / "00002.png"
    import cv2

    pixels = cv2.imread(str(image))
    pixels[0, 0] = 255 - pixels[0, 0]
    cv2.imwrite(str(image), pixels)
    third = load_split(models, "shapes/data.yaml", "val").content_sha256()
    assert len({first, second, third}) == 3


def test_the_data_set_joins_the_build_key_only_with_a_gate(models: Path) -> None:
    plain = make_profile()
    gated = replace(plain, accuracy=AccuracySpec("shapes/data.yaml"))
    assert "accuracy_data_sha256" not in build_key_for(plain, models, "img", gpus=list).inputs
    before = build_key_for(gated, models, "img", gpus=list)
    assert before.inputs["accuracy_data_sha256"] == load_split(models, "shapes/data.yaml", "val").content_sha256()
    label = models / "shapes" / "labels" / "val" / "00000.txt"
    label.write_text(label.read_text().replace("0.", "0.0", 1))
    after = build_key_for(gated, models, "img", gpus=list)
    assert after.key != before.key
    assert after.inputs["profile_sha256"] == before.inputs["profile_sha256"]  # only the data changed

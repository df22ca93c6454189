"""The shapes dataset generator: byte-identical for a seed, in ultralytics' format, with exact labels."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fixture_trainer.shapes import CLASSES, ShapesSpec, encode_png, files_digest, generate, render_image

SMALL = ShapesSpec(train=6, val=5)


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", SMALL)
    second = generate(tmp_path / "b", SMALL)
    assert files_digest(first.root) == files_digest(second.root)
    assert first.digest == second.digest
    names = sorted(p.relative_to(first.root).as_posix() for p in first.root.rglob("*") if p.is_file())
    assert len(names) == 1 + 2 * (SMALL.train + SMALL.val)  # data.yaml, one image and one label file per image
    other = generate(tmp_path / "c", replace(SMALL, seed=1))
    assert other.digest != first.digest and files_digest(other.root) != files_digest(first.root)


def test_val_images_do_not_depend_on_the_train_count(tmp_path: Path) -> None:
    full = generate(tmp_path / "full", SMALL)
    alone = generate(tmp_path / "alone", replace(SMALL, train=1), splits=("val",))
    for split_dir in ("images/val", "labels/val"):
        for path in sorted((full.root / split_dir).iterdir()):
            assert (alone.root / split_dir / path.name).read_bytes() == path.read_bytes(), path


def test_labels_are_in_range_and_cover_several_classes(tmp_path: Path) -> None:
    info = generate(tmp_path, SMALL)
    seen: set[int] = set()
    for label in sorted(info.root.glob("labels/*/*.txt")):
        rows = np.array([line.split() for line in label.read_text().splitlines()], dtype=float).reshape(-1, 5)
        assert len(rows) >= 1
        assert set(rows[:, 0]) <= set(range(len(CLASSES)))
        cx, cy, w, h = rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4]
        assert (w > 0).all() and (h > 0).all()
        assert (cx - w / 2 >= -1e-6).all() and (cx + w / 2 <= 1 + 1e-6).all()
        assert (cy - h / 2 >= -1e-6).all() and (cy + h / 2 <= 1 + 1e-6).all()
        assert (
            np.maximum(w, h) * SMALL.imgsz >= SMALL.min_size * 0.5
        ).all()  # a triangle's box is smaller than its circle
        seen |= set(rows[:, 0].astype(int))
    assert info.objects["train"] + info.objects["val"] == sum(
        len(p.read_text().splitlines()) for p in info.root.glob("labels/*/*.txt")
    )
    assert len(seen) >= 3


@pytest.mark.parametrize("name", ["circle", "square", "ring"])
def test_a_shape_of_known_geometry_gets_the_exact_box(name: str) -> None:
    """Centre (64, 64), extent 16 px each way (the square's corners on a circle of 16 * sqrt 2, unrotated):
    the half-covered pixels, and so the label, span columns and rows 48..79."""
    from fixture_trainer.shapes import _coverage

    cls = CLASSES.index(name)
    radius = 16 * np.sqrt(2) if name == "square" else 16.0
    cover = _coverage(cls, 40, 40, 90, 90, 64.0, 64.0, radius, 0.0)
    rows, cols = np.nonzero(cover >= 0.5)
    assert (rows.min() + 40, rows.max() + 40 + 1) == (48, 80)
    assert (cols.min() + 40, cols.max() + 40 + 1) == (48, 80)
    if name == "ring":
        assert cover[64 - 40, 64 - 40] == 0.0  # the hole


def test_boxes_of_one_image_overlap_at_most_the_generator_limit() -> None:
    from fixture_trainer.shapes import _MAX_BOX_IOU, _iou

    for index in range(20):
        _, boxes = render_image(ShapesSpec(), "train", index)
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert _iou(a, b) <= _MAX_BOX_IOU


def test_png_encoder_round_trips_through_opencv() -> None:
    cv2 = pytest.importorskip("cv2")
    pixels, _ = render_image(ShapesSpec(), "train", 3)
    decoded = cv2.imdecode(np.frombuffer(encode_png(pixels), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded[..., ::-1], pixels)  # OpenCV decodes to BGR


def test_ultralytics_reads_the_dataset(tmp_path: Path) -> None:
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    info = generate(tmp_path, SMALL)
    data = check_det_dataset(str(info.data_yaml))
    assert data["nc"] == len(CLASSES) and list(data["names"].values()) == list(CLASSES)
    assert Path(data["val"]) == info.root / "images" / "val"
    dataset = YOLODataset(img_path=data["val"], imgsz=SMALL.imgsz, data=data, task="detect", augment=False)
    labels = dataset.get_labels()
    assert len(labels) == SMALL.val
    assert sum(len(item["cls"]) for item in labels) == info.objects["val"]
    for item in labels:
        assert item["shape"] == (SMALL.imgsz, SMALL.imgsz)
        assert (item["bboxes"] >= 0).all() and (item["bboxes"] <= 1).all()

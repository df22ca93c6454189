"""The shapes scenes labelled for every task: byte-identical for a seed, read by ultralytics' own label loader, and
each label agreeing with the pixels drawn (polygons with the shape's mask, keypoints and oriented boxes with its
geometry, crops with its class)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from fixture_trainer.shapes import (
    CLASSES,
    FLIP_IDX,
    KEYPOINTS,
    TASKS,
    ShapesSpec,
    _coverage,
    files_digest,
    generate,
    render_image,
    render_scene,
)

SMALL = ShapesSpec(train=3, val=6)


@pytest.mark.parametrize("task", TASKS)
def test_each_task_is_byte_identical_for_a_seed_and_differs_for_another(tmp_path: Path, task: str) -> None:
    first = generate(tmp_path / "a", SMALL, task=task)
    second = generate(tmp_path / "b", SMALL, task=task)
    assert files_digest(first.root) == files_digest(second.root) and first.digest == second.digest
    assert first.objects == second.objects and first.objects["val"] > 0
    other = generate(tmp_path / "c", replace(SMALL, seed=1), task=task)
    assert other.digest != first.digest


def test_the_tasks_label_the_same_scenes(tmp_path: Path) -> None:
    """Same images and same number of objects per image for detect, segment, pose and obb; the detect labels are
    what they were before there were other tasks (render_image's boxes)."""
    infos = {task: generate(tmp_path / task, SMALL, task=task) for task in ("detect", "segment", "pose", "obb")}
    for name in sorted(p.name for p in (infos["detect"].root / "images" / "val").iterdir()):
        images = {(info.root / "images" / "val" / name).read_bytes() for info in infos.values()}
        assert len(images) == 1
        counts = {
            len((info.root / "labels" / "val" / name).with_suffix(".txt").read_text().splitlines())
            for info in infos.values()
        }
        assert len(counts) == 1
    _, boxes = render_image(SMALL, "val", 0)
    detect_lines = (infos["detect"].root / "labels" / "val" / "00000.txt").read_text().splitlines()
    assert detect_lines == [box.yolo_line(SMALL.imgsz) for box in boxes]
    assert len({info.digest for info in infos.values()}) == 4


def _ultralytics_labels(root: Path, task: str, name: str) -> tuple:
    """What ultralytics' dataset reads from one label file (``verify_image_label``, the loader's own parser)."""
    from ultralytics.data.utils import verify_image_label

    image = root / "images" / "val" / f"{name}.png"
    label = root / "labels" / "val" / f"{name}.txt"
    nkpt = len(KEYPOINTS) if task == "pose" else 0
    result = verify_image_label(
        (str(image), str(label), "", task == "pose", len(CLASSES), nkpt, 3 if nkpt else 0, False)
    )
    assert result[-1] == "" and result[8] == 0, result[-1]  # no message, not corrupt
    return result


def test_segment_polygons_fill_the_drawn_mask(tmp_path: Path) -> None:
    """Each polygon ultralytics reads, filled at pixel centres (sub-pixel; ultralytics' polygon2mask rounds corners to
    whole pixels first), against the shape's drawn pixels."""
    from matplotlib.path import Path as Polygon

    info = generate(tmp_path, SMALL, splits=("val",), task="segment")
    size = SMALL.imgsz
    seen: set[str] = set()
    centres = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="xy"), -1).reshape(-1, 2)
    for index in range(SMALL.val):
        _, shapes = render_scene(SMALL, "val", index)
        result = _ultralytics_labels(info.root, "segment", f"{index:05d}")
        segments = result[3]
        assert len(segments) == len(shapes)
        for shape, segment in zip(shapes, segments, strict=True):
            drawn = _coverage(shape.cls, 0, 0, size, size, shape.cx, shape.cy, shape.radius, shape.angle) >= 0.5
            filled = Polygon(segment * size).contains_points(centres).reshape(size, size)
            iou = (drawn & filled).sum() / (drawn | filled).sum()
            assert iou >= 0.95, (CLASSES[shape.cls], iou)
            if CLASSES[shape.cls] == "ring":  # the hole stays empty
                assert not filled[int(shape.cy), int(shape.cx)]
            seen.add(CLASSES[shape.cls])
    assert "ring" in seen and len(seen) >= 4


def test_pose_keypoints_are_the_centre_and_box_corners_and_the_flip_map_swaps_sides(tmp_path: Path) -> None:
    info = generate(tmp_path, SMALL, splits=("val",), task="pose")
    import yaml

    data = yaml.safe_load(info.data_yaml.read_text())
    assert data["kpt_shape"] == [len(KEYPOINTS), 3] and data["flip_idx"] == list(FLIP_IDX)
    assert [KEYPOINTS[i] for i in FLIP_IDX] == ["centre", "top_right", "top_left", "bottom_left", "bottom_right"]
    size = SMALL.imgsz
    for index in range(SMALL.val):
        _, shapes = render_scene(SMALL, "val", index)
        result = _ultralytics_labels(info.root, "pose", f"{index:05d}")
        boxes, keypoints = result[1], result[4]
        assert keypoints.shape == (len(shapes), len(KEYPOINTS), 3) and (keypoints[..., 2] == 2).all()
        for shape, box, points in zip(shapes, boxes, keypoints, strict=True):
            cx, cy, w, h = box[1:] * size
            corners = [
                (cx - w / 2, cy - h / 2),
                (cx + w / 2, cy - h / 2),
                (cx + w / 2, cy + h / 2),
                (cx - w / 2, cy + h / 2),
            ]
            assert np.allclose(points[1:, :2] * size, corners, atol=1e-3)
            assert np.allclose(points[0, :2] * size, (shape.cx, shape.cy), atol=1e-3)
            drawn = _coverage(shape.cls, 0, 0, size, size, shape.cx, shape.cy, shape.radius, shape.angle)
            if CLASSES[shape.cls] != "ring":  # a ring's centre is its hole
                assert drawn[int(shape.cy), int(shape.cx)] > 0


def test_obb_labels_turn_with_squares_and_hold_every_drawn_pixel(tmp_path: Path) -> None:
    """ultralytics' own conversion of the 8 corners (xyxyxyxy2xywhr): a square's side and angle, modulo 90 degrees;
    every drawn pixel inside its oriented box."""
    import torch
    from matplotlib.path import Path as Polygon
    from ultralytics.utils.ops import xyxyxyxy2xywhr

    info = generate(tmp_path, replace(SMALL, val=12), splits=("val",), task="obb")
    size = SMALL.imgsz
    squares = 0
    centres = np.stack(np.meshgrid(np.arange(size) + 0.5, np.arange(size) + 0.5, indexing="xy"), -1).reshape(-1, 2)
    for index in range(12):
        _, shapes = render_scene(SMALL, "val", index)
        result = _ultralytics_labels(info.root, "obb", f"{index:05d}")
        segments = result[3]
        for shape, corners in zip(shapes, segments, strict=True):
            xywhr = xyxyxyxy2xywhr(torch.tensor(corners * size, dtype=torch.float64).reshape(1, 8))[0].numpy()
            drawn = _coverage(shape.cls, 0, 0, size, size, shape.cx, shape.cy, shape.radius, shape.angle) >= 0.5
            inside = Polygon(corners * size).contains_points(centres, radius=1e-6).reshape(size, size)
            assert (drawn & ~inside).sum() <= 0.02 * drawn.sum(), CLASSES[shape.cls]
            if CLASSES[shape.cls] == "square":
                squares += 1
                side = shape.radius * math.sqrt(2)
                assert np.allclose(xywhr[2:4], side, atol=1e-3)
                turn = (xywhr[4] - shape.angle) % (math.pi / 2)
                assert min(turn, math.pi / 2 - turn) < 1e-3
            else:
                assert abs(xywhr[4] % (math.pi / 2)) < 1e-6 or abs(xywhr[4] % (math.pi / 2) - math.pi / 2) < 1e-6
    assert squares >= 2


def test_classify_crops_are_square_and_filed_by_class(tmp_path: Path) -> None:
    info = generate(tmp_path, SMALL, task="classify")
    from builder.yolo.preprocess import load_image

    assert info.train_data == info.root  # ultralytics' data= for classify is the folder
    import yaml

    assert yaml.safe_load(info.data_yaml.read_text())["names"] == dict(enumerate(sorted(CLASSES)))
    crops = sorted(info.root.glob("*/*/*.png"))
    assert len(crops) == info.objects["train"] + info.objects["val"]
    assert {p.parent.parent.name for p in crops} == {"train", "val"}
    _, shapes = render_scene(SMALL, "val", 0)
    for k, shape in enumerate(shapes):
        crop = load_image(info.root / "val" / CLASSES[shape.cls] / f"00000_{k}.png")
        box = shape.box
        assert crop.shape[0] == crop.shape[1] == max(box.x1 - box.x0, box.y1 - box.y0) + 8
    assert {p.parent.name for p in crops} <= set(CLASSES)


def test_an_unknown_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown task 'depth'"):
        generate(tmp_path, SMALL, task="depth")


@pytest.mark.parametrize("task", ["segment", "pose", "obb", "classify"])
def test_the_shipped_val_split_of_each_task_is_what_the_generator_makes(tmp_path: Path, task: str) -> None:
    """models/fixtures/shapes-<task>: `python3 -m builder fixture-data --task TASK --split val --val 64 --out ...`;
    classify also ships the crops of the first 16 train scenes (its INT8 calibration images): `--train 16 --val 64`."""
    from builder.yolo.preprocess import load_image
    from tests.support import REPO

    shipped = REPO / "models" / "fixtures" / f"shapes-{task}"
    splits = ("train", "val") if task == "classify" else ("val",)
    made = generate(tmp_path / task, replace(ShapesSpec(), train=16, val=64), splits=splits, task=task).root

    def files(root: Path) -> list[str]:
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p.suffix != ".cache")

    assert files(shipped) == files(made)
    for name in files(shipped):
        if name.endswith(".png"):
            assert np.array_equal(load_image(shipped / name), load_image(made / name)), name
        else:
            assert (shipped / name).read_text() == (made / name).read_text(), name

"""Profile cpu-fp32-shapes: a real bare build of the trained fixture, and its ONNX artifact finds the objects."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from fixture_trainer.evaluate import evaluate_map
from fixture_trainer.shapes import DatasetInfo
from tests.fixture_trainer.conftest import CHECKPOINT
from tests.fixture_trainer.test_accuracy import _torchvision_import_error
from tests.support import REPO


@pytest.fixture(scope="module")
def build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real bare build of the shipped profile (export, ORT model, verify, mAP gate, benchmark) in a temp folder."""
    from builder.pipeline.run import BuildSettings, run_build
    from builder.profile import load_profile

    root = tmp_path_factory.mktemp("shapes-build")
    models = root / "models"
    shutil.copytree(CHECKPOINT.parent, models / "fixtures")  # the checkpoint and its shipped data (the mAP gate)
    settings = BuildSettings(artifacts=root / "artifacts", models=models, force=True, log=lambda line: None)
    return run_build(load_profile("cpu-fp32-shapes", REPO / "profiles"), settings).build_dir


@pytest.mark.slow
@pytest.mark.parametrize("name", ["model.onnx", "model.ort.onnx"])  # the export, and the deployed ORT model
def test_built_onnx_scores_like_the_checkpoint(
    build_dir: Path, name: str, val_split: DatasetInfo, record: dict[str, Any]
) -> None:
    """ONNX Runtime through ultralytics' AutoBackend, letterbox and NMS: the same mAP as the PyTorch checkpoint."""
    result = evaluate_map(build_dir / name, val_split.root, "val", imgsz=256, device="cpu")
    assert result.objects == record["metrics"]["evaluate_cpu"]["objects"]
    assert abs(result.map50_95 - record["metrics"]["evaluate_cpu"]["map50_95"]) <= 0.005  # FP32: same numbers
    assert abs(result.map50 - record["metrics"]["evaluate_cpu"]["map50"]) <= 0.005


@pytest.mark.slow
def test_yolo_predict_on_the_built_onnx_finds_the_labelled_objects(build_dir: Path, val_split: DatasetInfo) -> None:
    reason = _torchvision_import_error()
    if reason is not None:
        pytest.skip(f"ultralytics' predict() imports torchvision, which does not import here ({reason})")
    from ultralytics import YOLO

    image = val_split.root / "images" / "val" / "00000.png"
    labels = np.loadtxt(val_split.root / "labels" / "val" / "00000.txt", ndmin=2)
    result = YOLO(str(build_dir / "model.onnx"), task="detect").predict(
        str(image), imgsz=256, device="cpu", verbose=False
    )[0]
    assert sorted(result.boxes.cls.int().tolist()) == sorted(labels[:, 0].astype(int).tolist())


@pytest.mark.slow
def test_the_deployed_model_finds_the_labelled_objects_at_predict_defaults(
    build_dir: Path, val_split: DatasetInfo
) -> None:
    """What predict() would draw (conf 0.25), without torchvision: every labelled object found, with its class."""
    import torch
    from ultralytics.utils.metrics import box_iou

    from builder.yolo.dataset import read_labels
    from fixture_trainer.evaluate import detect

    found = labelled = matched = detections = 0
    for index in range(5):
        image = val_split.root / "images" / "val" / f"{index:05d}.png"
        boxes = detect(build_dir / "model.ort.onnx", image, imgsz=256, conf=0.25)
        labels = read_labels(val_split.root / "labels" / "val" / f"{index:05d}.txt", 256, 256)
        iou = box_iou(torch.from_numpy(labels[:, 1:]), torch.from_numpy(boxes[:, :4])).numpy()
        same_class = labels[:, :1] == boxes[None, :, 5]
        hits = (iou >= 0.5) & same_class
        found += int(hits.any(axis=1).sum())
        matched += int(hits.any(axis=0).sum())
        detections += len(boxes)
        labelled += len(labels)
        assert len(boxes) >= 1
    assert found == labelled  # recall 1.0 on these images
    assert matched >= 0.9 * detections  # and few boxes that match nothing

"""The shipped fixture model is genuinely good on its regenerated val split, as recorded."""

from __future__ import annotations

from typing import Any

import pytest

from fixture_trainer.evaluate import evaluate_map
from fixture_trainer.pin import MIN_MAP50_95
from fixture_trainer.shapes import CLASSES, DatasetInfo
from tests.fixture_trainer.conftest import CHECKPOINT

TOLERANCE = 0.02


def _torchvision_import_error() -> str | None:
    try:
        import torchvision  # noqa: F401
    except Exception as err:  # noqa: BLE001 - the CUDA-built wheel beside a CPU torch raises RuntimeError
        return f"{type(err).__name__}: {str(err).splitlines()[-1] if str(err) else ''}"
    return None


def test_checkpoint_reproduces_the_recorded_map_on_cpu(val_split: DatasetInfo, record: dict[str, Any]) -> None:
    result = evaluate_map(CHECKPOINT, val_split.root, "val", imgsz=256, device="cpu")
    recorded = record["metrics"]["evaluate_cpu"]
    assert result.images == recorded["images"] and result.objects == recorded["objects"]
    assert abs(result.map50_95 - recorded["map50_95"]) <= TOLERANCE
    assert abs(result.map50 - recorded["map50"]) <= TOLERANCE
    assert result.map50_95 >= MIN_MAP50_95
    assert set(result.per_class_ap50_95) == set(CLASSES)
    assert min(result.per_class_ap50_95.values()) >= 0.5  # every class is learnt, not just the mean


def test_ultralytics_val_reproduces_the_recorded_map(val_split: DatasetInfo, record: dict[str, Any]) -> None:
    reason = _torchvision_import_error()
    if reason is not None:
        pytest.skip(f"ultralytics' val() imports torchvision, which does not import here ({reason})")
    from ultralytics import YOLO

    metrics = YOLO(str(CHECKPOINT)).val(data=str(val_split.data_yaml), imgsz=256, batch=32, device="cpu", plots=False)
    assert abs(float(metrics.box.map) - record["metrics"]["ultralytics_val_cpu"]["map50_95"]) <= TOLERANCE

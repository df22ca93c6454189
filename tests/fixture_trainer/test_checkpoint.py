"""The shipped fixture checkpoint: its pin, its record, and that the builder's hardened loader takes it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.common.hashing import sha256_file
from builder.profile import load_profile
from builder.record.weights import weights_fingerprint
from fixture_trainer.pin import MIN_MAP50_95
from fixture_trainer.shapes import CLASSES, ShapesSpec
from fixture_trainer.train import TrainSpec
from tests.fixture_trainer.conftest import CHECKPOINT, MODELS
from tests.support import REPO

PROFILE = "cpu-fp32-shapes"


def test_checkpoint_matches_its_pin_in_the_record_and_the_profile(record: dict[str, Any]) -> None:
    digest = sha256_file(CHECKPOINT)
    assert digest == record["sha256"]
    profile = load_profile(PROFILE, REPO / "profiles")
    assert profile.model.checkpoint == f"fixtures/{CHECKPOINT.name}"
    assert profile.model.sha256 == digest
    assert weights_fingerprint(profile.model, MODELS).sha256 == digest  # the build's own pin check passes


def test_record_describes_how_it_was_made(record: dict[str, Any]) -> None:
    """The record's dataset and training settings are the defaults that `make fixture-model` uses to retrain it."""
    shapes, train = ShapesSpec(), TrainSpec()
    assert {k: record["dataset"][k] for k in ("seed", "train", "val", "imgsz")} == {
        "seed": shapes.seed,
        "train": shapes.train,
        "val": shapes.val,
        "imgsz": shapes.imgsz,
    }
    assert {k: record["training"][k] for k in ("model", "epochs", "imgsz", "batch", "seed")} == {
        "model": train.model,
        "epochs": train.epochs,
        "imgsz": train.imgsz,
        "batch": train.batch,
        "seed": train.seed,
    }
    assert record["training"]["torch"] and record["training"]["ultralytics"] and record["training"]["train_seconds"] > 0
    metrics = record["metrics"]
    assert metrics["ultralytics_val"]["map50_95"] >= MIN_MAP50_95
    # the torchvision-free evaluator agreed with ultralytics' own val() on the same CPU when the record was made
    assert abs(metrics["evaluate_cpu"]["map50_95"] - metrics["ultralytics_val_cpu"]["map50_95"]) <= 0.01
    assert abs(metrics["evaluate_cpu"]["map50"] - metrics["ultralytics_val_cpu"]["map50"]) <= 0.01


def test_the_builders_hardened_loader_loads_it(tmp_path: Path) -> None:
    import os

    from builder.pipeline.stages.export import _load_yolo

    profile = load_profile(PROFILE, REPO / "profiles")
    yolo, dropped = _load_yolo(profile, weights_fingerprint(profile.model, MODELS), tmp_path)
    assert dropped is None and not list(tmp_path.iterdir())  # a detect checkpoint: loaded as it is, no copy
    assert os.environ["ULTRALYTICS_SAFE_LOAD"] == "1"
    assert yolo.task == "detect"
    assert list(yolo.names.values()) == list(CLASSES)
    assert sum(p.numel() for p in yolo.model.parameters()) > 2_000_000  # a YOLO11n, not a stub

"""What differs per ultralytics task, one module each, registered in one table (``HEADS``).

Each task module decodes a model's raw outputs exactly as ultralytics' predictor and validator do (its own ops:
``non_max_suppression`` with the task's arguments, ``process_mask``, ``batch_probiou``, ``kpt_iou``, ...), scores a
labelled split with the validator's metric (``score_split``) and compares an artifact's decoded results with the
FP32 reference's (``compare``). ``detect`` keeps its own modules (builder/yolo/evaluation.py, detections.py); the
others live here. Nothing heavy is imported until a task is used.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

TASK_NAMES = ("detect", "segment", "pose", "obb", "classify")

# task -> module with score_split(infer, split, imgsz, batch) and compare(ref, got, precision, images)
HEADS = {
    "segment": "builder.yolo.tasks.segment",
    "pose": "builder.yolo.tasks.pose",
    "obb": "builder.yolo.tasks.obb",
    "classify": "builder.yolo.tasks.classify",
}


def head(task: str) -> ModuleType:
    """The module of ``task`` (not detect, whose code predates this table)."""
    if task not in HEADS:
        raise KeyError(f"no task module for {task!r}; tasks with one: {', '.join(HEADS)}")
    return importlib.import_module(HEADS[task])


def load_accuracy_split(task: str, models_dir: Path, data: str, split: str, samples: int | None = None) -> Any:
    """The labelled split a ``task`` model is scored on: ultralytics' images/labels layout, or for classify its
    ImageFolder layout (builder/yolo/tasks/classify.py)."""
    if task == "classify":
        from builder.yolo.tasks.classify import load_split as load_classify

        return load_classify(models_dir, data, split, samples)
    from builder.yolo.dataset import load_split

    return load_split(models_dir, data, split, samples)

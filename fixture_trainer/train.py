"""Train the fixture model with ultralytics and write its record (how it was made, what it scores)."""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from builder.common.hashing import sha256_file
from builder.errors import HostEnvironmentError
from fixture_trainer.evaluate import evaluate_map
from fixture_trainer.shapes import DatasetInfo, ShapesSpec


@dataclass(frozen=True)
class TrainSpec:
    """ultralytics training settings of the fixture model (the rest are ultralytics' defaults)."""

    model: str = "yolo11n.yaml"  # from scratch: no pretrained weights anywhere
    epochs: int = 100
    imgsz: int = 256
    batch: int = 32
    seed: int = 0
    workers: int = 2
    device: str = "cpu"  # "cpu", or a CUDA index such as "0"
    time: float | None = None  # hours: ultralytics then fits the epochs into this time (the record keeps the count)


# The fixture model of each task. YOLO11n for the detection-like heads: their raw output is decoded by
# ultralytics' non_max_suppression, the default (external) output mode of every profile. YOLO26n for classify,
# whose head has no NMS question, so the fixtures cover the YOLO26 family too. Classify crops are at most 104 px.
TASK_TRAIN = {
    "detect": TrainSpec(),
    "segment": TrainSpec(model="yolo11n-seg.yaml"),
    "pose": TrainSpec(model="yolo11n-pose.yaml"),
    "obb": TrainSpec(model="yolo11n-obb.yaml"),
    "classify": TrainSpec(model="yolo26n-cls.yaml", imgsz=64),
}


def require_torchvision() -> None:
    """ultralytics' trainer and validator import torchvision; fail early, with the fix, where it cannot load."""
    try:
        import torchvision  # type: ignore[import-untyped]  # noqa: F401
    except Exception as err:  # noqa: BLE001 - a torchvision built for another torch raises RuntimeError
        raise HostEnvironmentError(
            "training needs torchvision, and it does not import here: "
            f"{str(err).splitlines()[-1] if str(err) else err!r}",
            hint="install the torchvision built for this torch (the +cpu pair for a CPU torch), or run on a host whose "
            "torch and torchvision match; `make fixture-model DATA_ONLY=1` checks the dataset without training",
        ) from None


def _read_results_csv(self: Any) -> dict[str, list[float]]:
    """ultralytics' ``BaseTrainer.read_results_csv`` without polars: the columns of results.csv as floats."""
    import csv

    try:
        with open(self.csv, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return {key.strip(): [float(row[key]) for row in rows] for key in rows[0]} if rows else {}
    except (OSError, ValueError, KeyError):
        return {}


def _without_polars() -> None:
    """ultralytics saves every checkpoint with results.csv read by polars, which a host may not have (the device
    machine had none): read it with the csv module there instead, the same columns as floats."""
    try:
        import polars  # noqa: F401
    except ImportError:
        from ultralytics.engine.trainer import BaseTrainer

        BaseTrainer.read_results_csv = _read_results_csv  # type: ignore[method-assign]


def train(data: DatasetInfo, work_dir: Path, spec: TrainSpec) -> tuple[Path, float]:
    """Train from ``spec.model`` on ``data``; return the best checkpoint (optimizer stripped) and seconds taken."""
    require_torchvision()
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    from ultralytics import YOLO

    _without_polars()

    yolo = YOLO(spec.model)
    started = time.monotonic()
    extra = {} if spec.time is None else {"time": spec.time}
    yolo.train(
        **extra,
        data=str(data.train_data),
        epochs=spec.epochs,
        imgsz=spec.imgsz,
        batch=spec.batch,
        seed=spec.seed,
        deterministic=True,
        workers=spec.workers,
        device=spec.device,
        project=str(work_dir),
        name="train",
        exist_ok=True,
        pretrained=False,
        amp=False,  # the AMP check would download a model; the fixture is small enough for FP32
        plots=False,
        verbose=False,
    )
    seconds = time.monotonic() - started
    return work_dir / "train" / "weights" / "best.pt", seconds


def drop_torchvision_transforms(source: Path, destination: Path) -> list[str]:
    """Copy a classify checkpoint without the torchvision preprocessing ultralytics pickles into it.

    ultralytics' ClassificationTrainer stores its eval transforms (``Compose(Resize, CenterCrop, ToTensor,
    Normalize)``, torchvision objects) as ``model.transforms``, so unpickling the checkpoint imports torchvision, which
    does not import beside the CPU torch here (requirements/cpu.in). Without the attribute, ultralytics' predictor uses
    ``classify_transforms(imgsz)``, the same four steps (its setup_source), and the validator its dataset's, so no
    prediction changes. The export stage's reader does it (builder/yolo/checkpoint_transforms.py: the torchvision
    classes read as inert stand-ins by ultralytics' restricted loader, never imported). Returns the dropped
    transforms' descriptions.
    """
    from builder.yolo.checkpoint_transforms import without_torchvision_transforms

    dropped = without_torchvision_transforms(source, destination)
    if dropped is None:
        shutil.copyfile(source, destination)
        return []
    return dropped


def ultralytics_val(checkpoint: Path, data: DatasetInfo, spec: TrainSpec, device: str) -> dict[str, Any]:
    """ultralytics' own ``val()`` of the checkpoint (needs torchvision), for the record."""
    from ultralytics import YOLO

    yolo = YOLO(str(checkpoint))
    metrics = yolo.val(
        data=str(data.train_data), imgsz=spec.imgsz, batch=spec.batch, device=device, plots=False, verbose=False
    )
    return {**val_numbers(str(yolo.task), metrics), "device": device}


def val_numbers(task: str, metrics: Any) -> dict[str, float]:
    """The headline numbers of ultralytics' validator for ``task``: mAP of each kind it scores, or top-1/top-5."""
    if task == "classify":
        return {"top1": round(float(metrics.top1), 4), "top5": round(float(metrics.top5), 4)}
    numbers = {"map50": round(float(metrics.box.map50), 4), "map50_95": round(float(metrics.box.map), 4)}
    extra = {"segment": "seg", "pose": "pose"}.get(task)
    if extra is not None:
        kind = getattr(metrics, extra)
        numbers |= {f"{extra}_map50": round(float(kind.map50), 4), f"{extra}_map50_95": round(float(kind.map), 4)}
    return numbers


def _training_record(spec: TrainSpec, seconds: float) -> dict[str, Any]:
    """How a fixture was trained: the settings, where, how long, with which versions."""
    import torch
    import ultralytics

    device_name = (
        torch.cuda.get_device_name(0)
        if spec.device not in ("cpu", "") and torch.cuda.is_available()
        else platform.processor() or "cpu"
    )
    return {
        **asdict(spec),
        "device_name": device_name,
        "train_seconds": round(seconds, 1),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
    }


def make_record(
    checkpoint: Path, data: DatasetInfo, shapes: ShapesSpec, spec: TrainSpec, seconds: float, command: str, name: str
) -> dict[str, Any]:
    """The JSON record: how the checkpoint was made and what it scores on the val split."""

    return {
        "schema": "engine-foundry/fixture-model/1",
        "checkpoint": name,  # the published file name (training writes best.pt)
        "sha256": sha256_file(checkpoint),
        "command": command,
        "dataset": {
            "generator": "fixture_trainer/shapes.py",
            **asdict(shapes),
            "objects": data.objects,
            "digest": data.digest,
        },
        "training": _training_record(spec, seconds),
        "metrics": {
            "ultralytics_val": ultralytics_val(checkpoint, data, spec, spec.device),
            "ultralytics_val_cpu": ultralytics_val(checkpoint, data, spec, "cpu"),
            "evaluate_cpu": evaluate_map(checkpoint, data.root, "val", spec.imgsz, "cpu").as_dict(),
        },
    }


def make_task_record(
    checkpoint: Path,
    data: DatasetInfo,
    shapes: ShapesSpec,
    spec: TrainSpec,
    seconds: float,
    command: str,
    shipped: Path,
) -> tuple[dict[str, Any], Path]:
    """The record of a segment, pose, obb or classify fixture (the detect record's fields, the task's metrics,
    ``evaluate_cpu`` on the ``shipped`` split's data.yaml) and the checkpoint to publish (classify: without its
    pickled torchvision transforms, see :func:`drop_torchvision_transforms`)."""

    from fixture_trainer.evaluate import evaluate_task

    published = checkpoint
    derived: dict[str, Any] = {}
    if data.task == "classify":
        published = checkpoint.with_name("published.pt")
        dropped = drop_torchvision_transforms(checkpoint, published)
        derived = {"trained_sha256": sha256_file(checkpoint), "dropped_transforms": dropped}
    result = evaluate_task(published, shipped, data.task, "val", spec.imgsz, "cpu")
    record = {
        "schema": "engine-foundry/fixture-model/1",
        "task": data.task,
        "sha256": sha256_file(published),
        **derived,
        "command": command,
        "dataset": {
            "generator": "fixture_trainer/shapes.py",
            "task": data.task,
            **asdict(shapes),
            "objects": data.objects,
            "digest": data.digest,
        },
        "training": _training_record(spec, seconds),
        "metrics": {
            "ultralytics_val": ultralytics_val(checkpoint, data, spec, spec.device),
            "evaluate_cpu": {**result.as_dict(), "data": str(shipped)},
        },
    }
    return record, published


def publish(checkpoint: Path, destination: Path) -> Path:
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, destination)
    return destination

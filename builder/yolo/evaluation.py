"""mAP of any backend's model on a labelled split, with ultralytics' own NMS and metrics (no hand-written mAP).

The model is reached through a Polygraphy runner (``get_backend(...).make_runner``: ONNX Runtime here, TensorRT's
``TrtRunner`` on a GPU host), so every backend is measured by the same code. Per image, as ultralytics'
``DetectionValidator`` does: the predictor's letterbox (:func:`builder.yolo.preprocess.image_to_tensor`), the
model, ``ultralytics.utils.nms.non_max_suppression`` at the validator's settings (conf 0.001, IoU 0.7,
multi-label, 300 boxes), boxes scaled back to the image (``ultralytics.utils.ops.scale_boxes``), matched to the
labels by ``BaseValidator.match_predictions`` at IoU 0.50:0.95, and ``ultralytics.utils.metrics.ap_per_class``
over the split.

``YOLO(...).val()`` itself is not used: it imports torchvision first, and the torchvision wheel beside the CPU
torch here does not import (requirements/cpu.in). ultralytics' ``non_max_suppression`` uses its own NMS when
torchvision is missing; the numbers equal ``val()``'s up to NMS tie-breaks (docs/accuracy.md).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from builder.yolo.dataset import LabelledSplit, read_labels
from builder.yolo.val_settings import VAL_CONF, VAL_IOU, VAL_MAX_DET

METHOD = (
    "ultralytics letterbox, non_max_suppression(conf 0.001, iou 0.7, multi_label, max_det 300), "
    "BaseValidator.match_predictions, metrics.ap_per_class"
)


@dataclass(frozen=True)
class MapResult:
    """mAP of one model on one split; per-class APs for the classes that have labels."""

    map50: float
    map50_95: float
    per_class_ap50: dict[str, float]
    per_class_ap50_95: dict[str, float]
    images: int
    objects: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "map50": round(self.map50, 4),
            "map50_95": round(self.map50_95, 4),
            "per_class_ap50": {k: round(v, 4) for k, v in self.per_class_ap50.items()},
            "per_class_ap50_95": {k: round(v, 4) for k, v in self.per_class_ap50_95.items()},
            "images": self.images,
            "objects": self.objects,
        }


def evaluate(
    runner: Any,
    input_name: str,
    output_name: str,
    split: LabelledSplit,
    imgsz: tuple[int, int],
    batch: int = 1,
    *,
    end2end: bool = False,
) -> MapResult:
    """mAP of the model behind ``runner`` (a Polygraphy runner, not yet activated) on ``split``.

    ``batch``: the batch the model is fed at (a static-batch model's size); a last partial batch is filled by
    repeating its last image, whose extra results are dropped. ``end2end``: the output holds final detections
    (``outputs.nms`` embedded or end2end: (batch, max_det, 6)), which ultralytics' NMS only filters by confidence.
    """
    import numpy as np

    def infer(x: Any) -> Any:
        return np.asarray(runner.infer({input_name: x})[output_name])

    with runner:
        return score_split(infer, split, imgsz, batch, end2end=end2end)


def evaluate_task(
    task: str,
    runner: Any,
    input_name: str,
    output_names: tuple[str, ...],
    split: LabelledSplit,
    imgsz: tuple[int, int],
    batch: int = 1,
) -> Any:
    """The ``task``'s validator metric (builder/yolo/tasks) of the model behind ``runner``: a ``TaskResult``."""
    import numpy as np

    from builder.yolo.tasks import head

    with runner:
        return head(task).score_split(
            lambda x: [np.asarray(out[name]) for out in [runner.infer({input_name: x})] for name in output_names],
            split,
            imgsz,
            batch,
        )


def task_method(task: str) -> str:
    """How ``task`` is scored, for the manifest: the first paragraph of its module's docstring."""
    from builder.yolo.tasks import head

    doc = head(task).__doc__ or task
    return " ".join(doc.split("\n\n")[1].split()) if "\n\n" in doc else " ".join(doc.split())


def score_split(
    infer: Callable[[Any], Any], split: LabelledSplit, imgsz: tuple[int, int], batch: int = 1, *, end2end: bool = False
) -> MapResult:
    """mAP of ``infer`` (letterboxed ``(batch, 3, h, w)`` float32 array in, the model's raw output array out).

    ``end2end``: the output is already NMS-ed (ultralytics' end-to-end heads); NMS then only filters it.
    """
    import numpy as np

    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from ultralytics.utils.metrics import ap_per_class

    from builder.yolo.preprocess import image_to_tensor, load_image

    rows: list[tuple[Any, Any, Any, Any]] = []  # (correct, conf, pred_cls, target_cls) per image
    for start in range(0, len(split.images), batch):
        paths = list(split.images[start : start + batch])
        images = [load_image(p) for p in paths]
        tensors = [image_to_tensor(im, imgsz) for im in images]
        tensors += [tensors[-1]] * (batch - len(tensors))
        raw = infer(np.concatenate(tensors, axis=0))
        for index, (path, image) in enumerate(zip(paths, images, strict=True)):
            labels = read_labels(split.label_path(path), image.shape[0], image.shape[1])
            rows.append(_score_image(raw[index : index + 1], labels, imgsz, image.shape[:2], end2end))
    tp, conf, pred_cls, target_cls = (np.concatenate(column) for column in zip(*rows, strict=True))
    names = dict(split.names)
    result = ap_per_class(tp, conf, pred_cls, target_cls, names=names)
    ap, classes = result[5], result[6]
    ap50 = {names.get(int(c), str(int(c))): float(ap[i, 0]) for i, c in enumerate(classes)}
    ap50_95 = {names.get(int(c), str(int(c))): float(ap[i].mean()) for i, c in enumerate(classes)}
    map50 = float(ap[:, 0].mean()) if len(classes) else 0.0
    map50_95 = float(ap.mean()) if len(classes) else 0.0
    return MapResult(map50, map50_95, ap50, ap50_95, len(split.images), len(target_cls))


def _score_image(
    raw: Any, labels: Any, imgsz: tuple[int, int], shape: tuple[int, int], end2end: bool
) -> tuple[Any, Any, Any, Any]:
    """One image's detections (ultralytics' NMS) matched to its labels at the ten IoU thresholds."""
    import numpy as np
    import torch
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import box_iou
    from ultralytics.utils.nms import non_max_suppression
    from ultralytics.utils.ops import scale_boxes

    det = non_max_suppression(
        torch.from_numpy(raw), VAL_CONF, VAL_IOU, multi_label=True, max_det=VAL_MAX_DET, end2end=end2end
    )[0]
    det = det[:, :6].clone()
    det[:, :4] = scale_boxes(imgsz, det[:, :4], shape)
    iouv = torch.linspace(0.5, 0.95, 10)
    cls_t = torch.from_numpy(labels[:, 0])
    if len(det) and len(labels):
        iou = box_iou(torch.from_numpy(labels[:, 1:]), det[:, :4])
        matcher: Any = _Matcher(iouv)  # stands in for the validator (only .iouv is read)
        correct = BaseValidator.match_predictions(matcher, det[:, 5], cls_t, iou).numpy()
    else:
        correct = np.zeros((len(det), len(iouv)), dtype=bool)
    return correct, det[:, 4].numpy(), det[:, 5].numpy(), labels[:, 0]


@dataclass(frozen=True)
class _Matcher:
    """The one attribute ``BaseValidator.match_predictions`` reads (its IoU thresholds), without a validator."""

    iouv: Any

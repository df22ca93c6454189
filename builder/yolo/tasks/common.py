"""Pieces every task module shares: the scored result, the validator's label reading and geometry, NMS, AP."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.yolo.val_settings import VAL_CONF, VAL_IOU, VAL_MAX_DET

PREDICT_CONF = 0.25  # ultralytics' predictor default (cfg/default.yaml conf None -> 0.25 in predict)

# infer: a letterboxed (batch, 3, h, w) float32 array in, the model's outputs (in export order) out
Infer = Callable[[Any], list[Any]]


@dataclass(frozen=True)
class TaskResult:
    """One model's score on one split by its task's validator metric.

    ``map50`` and ``map50_95`` are the gated metric's pair (the evaluate stage gates ``map50_95``): mask mAP for
    segment, keypoint (OKS) mAP for pose, rotated-box mAP for obb; for classify top-5 and top-1 accuracy.
    ``numbers`` holds every metric the validator reports (box mAP too where the task has boxes).
    """

    task: str
    metric: str  # what map50_95 is, in words
    map50: float
    map50_95: float
    per_class_ap50_95: dict[str, float]
    images: int
    objects: int
    numbers: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        head = (
            {
                "top1": round(self.map50_95, 4),
                "top5": round(self.map50, 4),
                "per_class_top1": _rounded(self.per_class_ap50_95),
            }
            if self.task == "classify"
            else {
                "map50": round(self.map50, 4),
                "map50_95": round(self.map50_95, 4),
                "per_class_ap50_95": _rounded(self.per_class_ap50_95),
            }
        )
        return {
            "task": self.task,
            "metric": self.metric,
            **head,
            **{k: round(v, 4) for k, v in self.numbers.items()},
            "images": self.images,
            "objects": self.objects,
        }


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def letterbox_geometry(shape: tuple[int, int], imgsz: tuple[int, int]) -> tuple[float, float, float]:
    """``(gain, pad_x, pad_y)`` of ultralytics' LetterBox(auto=False, center=True) from ``shape`` to ``imgsz``
    (both (h, w)): input pixel = image pixel * gain + pad."""
    gain = min(imgsz[0] / shape[0], imgsz[1] / shape[1])
    unpadded = (round(shape[1] * gain), round(shape[0] * gain))
    dw, dh = (imgsz[1] - unpadded[0]) / 2, (imgsz[0] - unpadded[1]) / 2
    return gain, float(round(dw - 0.1)), float(round(dh - 0.1))


def read_label(image: Path, label: Path, nc: int, nkpt: int = 0) -> tuple[Any, Any, list[Any], Any]:
    """One label file as ultralytics' dataset reads it (``verify_image_label``): classes, boxes (normalized xywh; a
    polygon's box is its extent), polygons (normalized, a list of (k, 2) arrays) and keypoints (n, nkpt, 3) or None.
    """
    import numpy as np

    from builder.yolo.dataset import DatasetError

    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    from ultralytics.data.utils import verify_image_label

    result = verify_image_label((str(image), str(label), "", nkpt > 0, nc, nkpt, 3 if nkpt else 0, False))
    if result[0] is None:
        raise DatasetError(
            f"label {label} is not readable as ultralytics reads it: {result[-1]}",
            hint="regenerate the labels (python3 -m builder fixture-data --task ...)",
        )
    lb, segments, keypoints = result[1], result[3] or [], result[4]
    return lb[:, 0].astype(np.int64), lb[:, 1:5].astype(np.float32), list(segments), keypoints


def to_input(points: Any, shape: tuple[int, int], imgsz: tuple[int, int]) -> Any:
    """Normalized (x, y) points of an image of ``shape`` to letterboxed input pixels (last axis x, y[, ...])."""
    gain, pad_x, pad_y = letterbox_geometry(shape, imgsz)
    out = points.copy().astype("float32")
    out[..., 0] = points[..., 0] * shape[1] * gain + pad_x
    out[..., 1] = points[..., 1] * shape[0] * gain + pad_y
    return out


def nms(raw: Any, nc: int, *, conf: float = VAL_CONF, multi_label: bool = True, rotated: bool = False) -> Any:
    """ultralytics' ``non_max_suppression`` of one image's raw head output ``(1, 4+nc+extra, anchors)``, at the
    validator's IoU and max_det: ``(n, 6+extra)`` rows of box, confidence, class, extra (mask coefficients,
    keypoints, angle)."""
    import torch
    from ultralytics.utils.nms import non_max_suppression

    return non_max_suppression(
        torch.from_numpy(raw), conf, VAL_IOU, multi_label=multi_label, max_det=VAL_MAX_DET, nc=nc, rotated=rotated
    )[0]


def match(pred_cls: Any, gt_cls: Any, iou: Any) -> Any:
    """``BaseValidator.match_predictions`` at IoU 0.50:0.95, without a validator."""
    import numpy as np
    import torch
    from ultralytics.engine.validator import BaseValidator

    if len(pred_cls) == 0 or len(gt_cls) == 0:
        return np.zeros((len(pred_cls), 10), dtype=bool)
    matcher: Any = _Matcher(torch.linspace(0.5, 0.95, 10))
    return BaseValidator.match_predictions(matcher, pred_cls, torch.as_tensor(gt_cls), iou).numpy()


@dataclass(frozen=True)
class _Matcher:
    iouv: Any  # the one attribute match_predictions reads


def average_precision(
    tp: Any, conf: Any, pred_cls: Any, target_cls: Any, names: dict[int, str]
) -> tuple[float, float, dict[str, float]]:
    """``ultralytics.utils.metrics.ap_per_class``: mAP50, mAP50-95 and per-class AP50-95."""
    from ultralytics.utils.metrics import ap_per_class

    result = ap_per_class(tp, conf, pred_cls, target_cls, names=names)
    ap, classes = result[5], result[6]
    if not len(classes):
        return 0.0, 0.0, {}
    per_class = {names.get(int(c), str(int(c))): float(ap[i].mean()) for i, c in enumerate(classes)}
    return float(ap[:, 0].mean()), float(ap.mean()), per_class


def box_and_instance_result(
    task: str, metric: str, kind: str, split: Any, box_rows: list[tuple[Any, ...]], instance_rows: list[Any]
) -> TaskResult:
    """The validator's two mAPs of a task with boxes and instances (segment: masks, pose: keypoints): box mAP and the
    gated ``kind`` mAP, from per-image ``(tp, conf, pred_cls, target_cls)`` box rows and the instance ``tp`` rows."""
    import numpy as np

    tp, conf, pred_cls, target_cls = (np.concatenate(column) for column in zip(*box_rows, strict=True))
    names = dict(split.names)
    box50, box50_95, _ = average_precision(tp, conf, pred_cls, target_cls, names)
    inst50, inst50_95, per_class = average_precision(np.concatenate(instance_rows), conf, pred_cls, target_cls, names)
    numbers = {"box_map50": box50, "box_map50_95": box50_95, f"{kind}_map50": inst50, f"{kind}_map50_95": inst50_95}
    return TaskResult(task, metric, inst50, inst50_95, per_class, len(split.images), len(target_cls), numbers)


def batches(split: Any, imgsz: tuple[int, int], batch: int, infer: Infer) -> Iterator[tuple[Path, Any, list[Any]]]:
    """Each image of ``split`` with its outputs (index ``i`` of every output), fed ``batch`` images at a time
    through the predictor's letterbox; a last partial batch repeats its last image, whose results are dropped."""
    import numpy as np

    from builder.yolo.preprocess import image_to_tensor, load_image

    for start in range(0, len(split.images), batch):
        paths = list(split.images[start : start + batch])
        images = [load_image(p) for p in paths]
        tensors = [image_to_tensor(im, imgsz) for im in images]
        tensors += [tensors[-1]] * (batch - len(tensors))
        outputs = [np.asarray(o) for o in infer(np.concatenate(tensors, axis=0))]
        for index, (path, image) in enumerate(zip(paths, images, strict=True)):
            yield path, image, [o[index : index + 1] for o in outputs]

"""Oriented boxes: ``output0`` (1, 4+nc+1, anchors), boxes as centre, size and angle (radians).

Scored as ultralytics' ``OBBValidator``: ``non_max_suppression(nc=nc, rotated=True)`` (its rotated NMS, by
``batch_probiou``), labels' 8 corners to (x, y, w, h, angle) by ``xyxyxyxy2xywhr`` in input pixels,
``match_predictions`` on ``batch_probiou``, ``ap_per_class``. The gated metric is the OBB mAP50-95.
"""

from __future__ import annotations

from typing import Any

from builder.yolo.tasks.common import (
    PREDICT_CONF,
    Infer,
    TaskResult,
    average_precision,
    batches,
    match,
    nms,
    read_label,
    to_input,
)
from builder.yolo.tasks.matching import compare_instances


def score_split(infer: Infer, split: Any, imgsz: tuple[int, int], batch: int = 1) -> TaskResult:
    import numpy as np
    import torch
    from ultralytics.utils.metrics import batch_probiou
    from ultralytics.utils.ops import xyxyxyxy2xywhr

    nc = len(split.names)
    rows: list[tuple[Any, ...]] = []
    for path, image, (raw,) in batches(split, imgsz, batch, infer):
        det = nms(raw, nc, rotated=True)
        cls, _, corners, _ = read_label(path, split.label_path(path), nc)
        pred = torch.cat([det[:, :4], det[:, 6:7]], dim=-1)  # xywh + angle
        pred_cls = det[:, 5]
        if len(det) and len(cls):
            points = np.stack([to_input(c, image.shape[:2], imgsz) for c in corners]).reshape(-1, 8)
            gt = xyxyxyxy2xywhr(torch.from_numpy(points))
            tp = match(pred_cls, cls, batch_probiou(gt, pred))
        else:
            tp = np.zeros((len(det), 10), dtype=bool)
        rows.append((tp, det[:, 4].numpy(), pred_cls.numpy(), cls))
    tp, conf, pred_cls, target_cls = (np.concatenate(column) for column in zip(*rows, strict=True))
    map50, map50_95, per_class = average_precision(tp, conf, pred_cls, target_cls, dict(split.names))
    return TaskResult(
        "obb",
        "OBB mAP50-95",
        map50,
        map50_95,
        per_class,
        len(split.images),
        len(target_cls),
        {"obb_map50": map50, "obb_map50_95": map50_95},
    )


def predict(outputs: list[Any], nc: int, conf: float = PREDICT_CONF) -> list[dict[str, Any]]:
    """ultralytics' ``OBBPredictor`` per image: rotated NMS (one label per box), boxes (n, 5) xywhr in input pixels."""
    import torch

    (raw,) = outputs
    results = []
    for i in range(raw.shape[0]):
        det = nms(raw[i : i + 1], nc, conf=conf, multi_label=False, rotated=True)
        boxes = torch.cat([det[:, :4], det[:, 6:7]], dim=-1)
        results.append({"boxes": boxes.numpy(), "conf": det[:, 4].numpy(), "cls": det[:, 5].numpy()})
    return results


def probiou(box: Any, boxes: Any) -> Any:
    """ultralytics' ``batch_probiou`` of xywhr boxes: the rotated IoU its NMS and validator use."""
    from ultralytics.utils.metrics import batch_probiou

    return batch_probiou(box, boxes).numpy()


def compare(ref: list[Any], got: list[Any], nc: int, iou: float, score_atol: float) -> list[Any]:
    """Per image: reference oriented boxes found in the artifact's, with the class, rotated IoU (probiou) >= ``iou``
    and the score within ``score_atol``."""
    return compare_instances(
        predict(ref, nc),
        predict(got, nc, PREDICT_CONF - score_atol),
        predict(got, nc, PREDICT_CONF + score_atol),
        iou,
        score_atol,
        None,
        box_iou=probiou,
    )

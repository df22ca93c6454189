"""Segmentation: ``output0`` (1, 4+nc+32, anchors) and the prototypes ``output1`` (1, 32, h/4, w/4).

Scored as ultralytics' ``SegmentationValidator``: ``non_max_suppression(nc=nc)`` at the validator's settings, masks
by ``process_mask`` at the prototypes' resolution, labels rasterised by ``polygons2masks_overlap`` (polygons
resampled to 1000 points, letterboxed, downsampled 4x, smaller objects over larger ones, as the dataset's
``Format`` does), then ``match_predictions`` on box IoU and on ``mask_iou``, ``ap_per_class`` for each. The gated
metric is the mask mAP50-95.
"""

from __future__ import annotations

from typing import Any

from builder.yolo.tasks.common import (
    PREDICT_CONF,
    Infer,
    TaskResult,
    batches,
    box_and_instance_result,
    match,
    nms,
    read_label,
    to_input,
)
from builder.yolo.tasks.matching import Extra, compare_instances

MASK_RATIO = 4  # ultralytics' default mask_ratio: prototypes and validation masks at 1/4 of the input
# the smallest IoU of a matched instance's mask, by precision (boxes, scores, agreement: verify.detection)
MASK_IOU = {"fp32": 0.97, "fp16": 0.9, "int8": 0.7}


def score_split(infer: Infer, split: Any, imgsz: tuple[int, int], batch: int = 1) -> TaskResult:
    import numpy as np
    import torch
    from ultralytics.data.utils import polygons2masks_overlap
    from ultralytics.utils.metrics import box_iou, mask_iou
    from ultralytics.utils.ops import process_mask, resample_segments, xywh2xyxy

    nc = len(split.names)
    box_rows: list[tuple[Any, ...]] = []
    mask_rows: list[Any] = []
    for path, image, (raw, proto) in batches(split, imgsz, batch, infer):
        shape = image.shape[:2]
        det = nms(raw, nc)
        cls, boxes, segments, _ = read_label(path, split.label_path(path), nc)
        boxes_in = to_input(xywh2xyxy(boxes).reshape(-1, 2, 2), shape, imgsz).reshape(-1, 4)
        polygons = [to_input(s, shape, imgsz) for s in resample_segments(segments, n=1000)] if segments else []
        if len(polygons):
            overlap, order = polygons2masks_overlap(imgsz, polygons, downsample_ratio=MASK_RATIO)
            cls, boxes_in = cls[order], boxes_in[order]
            index = np.arange(1, len(cls) + 1).reshape(-1, 1, 1)
            gt_masks = torch.from_numpy((overlap[None] == index).astype(np.float32))
        masks = process_mask(
            torch.from_numpy(proto[0]), det[:, 6:], det[:, :4], shape=[MASK_RATIO * s for s in proto.shape[2:]]
        )
        pred_cls = det[:, 5]
        if len(det) and len(cls):
            tp = match(pred_cls, cls, box_iou(torch.from_numpy(boxes_in), det[:, :4]))
            tp_m = match(pred_cls, cls, mask_iou(gt_masks.flatten(1), masks.flatten(1).float()))
        else:
            tp = tp_m = np.zeros((len(det), 10), dtype=bool)
        box_rows.append((tp, det[:, 4].numpy(), pred_cls.numpy(), cls))
        mask_rows.append(tp_m)
    return box_and_instance_result("segment", "mask mAP50-95", "mask", split, box_rows, mask_rows)


def predict(outputs: list[Any], nc: int, conf: float = PREDICT_CONF) -> list[dict[str, Any]]:
    """ultralytics' ``SegmentationPredictor`` per image, in the letterboxed input's pixels: NMS (one label per
    box), masks by ``process_mask(upsample=True)`` at the input size."""
    import torch
    from ultralytics.utils.ops import process_mask

    raw, proto = outputs
    results = []
    for i in range(raw.shape[0]):
        det = nms(raw[i : i + 1], nc, conf=conf, multi_label=False)
        shape = [MASK_RATIO * s for s in proto.shape[2:]]
        masks = process_mask(torch.from_numpy(proto[i]), det[:, 6:], det[:, :4], shape=shape, upsample=True)
        results.append(
            {
                "boxes": det[:, :4].numpy(),
                "conf": det[:, 4].numpy(),
                "cls": det[:, 5].numpy(),
                "masks": masks.numpy().astype(bool),
            }
        )
    return results


def compare(ref: list[Any], got: list[Any], nc: int, precision: str, iou: float, score_atol: float) -> list[Any]:
    """Per image of the batch: each reference instance found in the artifact's with its class, box IoU >= ``iou``,
    score within ``score_atol`` and mask IoU >= MASK_IOU[precision]; spurious confident instances count too."""
    return compare_instances(
        predict(ref, nc),
        predict(got, nc, PREDICT_CONF - score_atol),
        predict(got, nc, PREDICT_CONF + score_atol),
        iou,
        score_atol,
        mask_check(precision),
    )


def mask_check(precision: str) -> Extra:
    """The mask check of a matched instance: IoU of its ``masks`` >= MASK_IOU[precision]."""
    return ("mask IoU", MASK_IOU[precision], _mask_iou)


def _mask_iou(a: dict[str, Any], i: int, b: dict[str, Any], j: int) -> float:
    import numpy as np

    inter = np.logical_and(a["masks"][i], b["masks"][j]).sum()
    union = np.logical_or(a["masks"][i], b["masks"][j]).sum()
    return float(inter / union) if union else 1.0

"""Pose: ``output0`` (1, 4+nc+nkpt*3, anchors), keypoints already decoded to input pixels (x, y, visibility).

Scored as ultralytics' ``PoseValidator``: ``non_max_suppression(nc=nc)``, the keypoints reshaped to
(n, nkpt, 3), ``match_predictions`` on box IoU and on ``kpt_iou`` (OKS; sigma 1/nkpt per keypoint unless the
data.yaml gives ``kpt_oks_sigmas``, the COCO sigmas for 17 keypoints; area = box area * 0.53), ``ap_per_class`` for
each. The gated metric is the pose (OKS) mAP50-95.
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

# the smallest OKS between matched instances' keypoints, by precision (boxes, scores: verify.detection)
MIN_OKS = {"fp32": 0.98, "fp16": 0.95, "int8": 0.8}


def kpt_shape(split: Any) -> tuple[int, int]:
    """``kpt_shape`` of the split's data.yaml."""
    import yaml

    from builder.yolo.dataset import DatasetError

    shape = (yaml.safe_load(split.data_yaml.read_text()) or {}).get("kpt_shape")
    if not (isinstance(shape, list) and len(shape) == 2 and shape[1] in (2, 3)):
        raise DatasetError(
            f"{split.data_yaml} has no kpt_shape [keypoints, 2|3]",
            hint="a pose data.yaml gives kpt_shape, as ultralytics'",
        )
    return int(shape[0]), int(shape[1])


def sigmas(split: Any, nkpt: int) -> Any:
    """The validator's OKS sigmas (PoseValidator.init_metrics)."""
    import numpy as np
    import yaml
    from ultralytics.utils.metrics import OKS_SIGMA

    custom = (yaml.safe_load(split.data_yaml.read_text()) or {}).get("kpt_oks_sigmas")
    if custom:
        return np.array(custom, dtype=np.float32).flatten()
    return OKS_SIGMA if nkpt == 17 else np.ones(nkpt) / nkpt


def score_split(infer: Infer, split: Any, imgsz: tuple[int, int], batch: int = 1) -> TaskResult:
    import numpy as np
    import torch
    from ultralytics.utils.metrics import box_iou, kpt_iou
    from ultralytics.utils.ops import xywh2xyxy

    nc = len(split.names)
    nkpt, ndim = kpt_shape(split)
    sigma = sigmas(split, nkpt)
    box_rows: list[tuple[Any, ...]] = []
    pose_rows: list[Any] = []
    for path, image, (raw,) in batches(split, imgsz, batch, infer):
        shape = image.shape[:2]
        det = nms(raw, nc)
        cls, boxes, _, keypoints = read_label(path, split.label_path(path), nc, nkpt)
        boxes_in = torch.from_numpy(to_input(xywh2xyxy(boxes).reshape(-1, 2, 2), shape, imgsz).reshape(-1, 4))
        pred_kpts = det[:, 6:].view(-1, nkpt, ndim)
        pred_cls = det[:, 5]
        if len(det) and len(cls):
            kpts_in = torch.from_numpy(to_input(keypoints, shape, imgsz))
            tp = match(pred_cls, cls, box_iou(boxes_in, det[:, :4]))
            area = (boxes_in[:, 2] - boxes_in[:, 0]) * (boxes_in[:, 3] - boxes_in[:, 1]) * 0.53
            tp_p = match(pred_cls, cls, kpt_iou(kpts_in, pred_kpts, sigma=sigma, area=area))
        else:
            tp = tp_p = np.zeros((len(det), 10), dtype=bool)
        box_rows.append((tp, det[:, 4].numpy(), pred_cls.numpy(), cls))
        pose_rows.append(tp_p)
    return box_and_instance_result("pose", "pose (OKS) mAP50-95", "pose", split, box_rows, pose_rows)


def predict(outputs: list[Any], nc: int, nkpt: int, ndim: int, conf: float = PREDICT_CONF) -> list[dict[str, Any]]:
    """ultralytics' ``PosePredictor`` per image, in input pixels: NMS (one label per box), keypoints (n, nkpt, ndim)."""
    (raw,) = outputs
    results = []
    for i in range(raw.shape[0]):
        det = nms(raw[i : i + 1], nc, conf=conf, multi_label=False)
        results.append(
            {
                "boxes": det[:, :4].numpy(),
                "conf": det[:, 4].numpy(),
                "cls": det[:, 5].numpy(),
                "keypoints": det[:, 6:].reshape(-1, nkpt, ndim).numpy(),
            }
        )
    return results


def compare(
    ref: list[Any], got: list[Any], nc: int, nkpt: int, ndim: int, precision: str, iou: float, score_atol: float
) -> list[Any]:
    """Per image: reference instances found in the artifact's (class, box IoU, score) with keypoint OKS (sigma
    1/nkpt, area = box area * 0.53, ultralytics' kpt_iou) >= MIN_OKS[precision]."""
    return compare_instances(
        predict(ref, nc, nkpt, ndim),
        predict(got, nc, nkpt, ndim, PREDICT_CONF - score_atol),
        predict(got, nc, nkpt, ndim, PREDICT_CONF + score_atol),
        iou,
        score_atol,
        oks_check(nkpt, ndim, precision),
    )


def oks_check(nkpt: int, ndim: int, precision: str) -> Extra:
    """The keypoint check of a matched instance: OKS of its ``keypoints`` (n, nkpt, ndim) >= MIN_OKS[precision]."""
    import numpy as np
    import torch
    from ultralytics.utils.metrics import kpt_iou

    def oks(a: dict[str, Any], i: int, b: dict[str, Any], j: int) -> float:
        box = a["boxes"][i]
        area = torch.tensor([(box[2] - box[0]) * (box[3] - box[1]) * 0.53])
        ref_kpts = torch.from_numpy(a["keypoints"][i : i + 1].copy())
        if ndim == 2:
            ref_kpts = torch.cat([ref_kpts, torch.ones_like(ref_kpts[..., :1])], -1)
        sigma: Any = np.ones(nkpt) / nkpt  # ultralytics' default for other than 17 keypoints (PoseValidator)
        got_kpts = torch.from_numpy(b["keypoints"][j : j + 1])
        return float(kpt_iou(ref_kpts, got_kpts, area=area, sigma=sigma)[0, 0])

    return ("keypoint OKS", MIN_OKS[precision], oks)

"""Decode raw YOLO detect output and compare two sets of detections (numpy only).

A randomly initialised model scores every box far below usual confidence
thresholds, so nothing here filters by confidence: we keep the ``top_k``
highest-scoring boxes after class-aware NMS and compare those.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NMS_IOU = 0.7  # ultralytics' default predict IoU threshold


@dataclass(frozen=True)
class Detections:
    """Detections of one image, highest score first."""

    boxes: np.ndarray  # (k, 4) float32 xyxy, input pixels
    scores: np.ndarray  # (k,) float32, the best class score
    classes: np.ndarray  # (k,) int64

    def __len__(self) -> int:
        return len(self.scores)


@dataclass(frozen=True)
class MatchReport:
    agreement: float  # matched / total (1.0 when the reference has no detections)
    matched: int
    total: int
    first_mismatch: str | None  # the first reference detection without a counterpart


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Centre-size boxes (..., 4) to corner boxes."""
    half = boxes[..., 2:4] / 2
    return np.concatenate([boxes[..., 0:2] - half, boxes[..., 0:2] + half], axis=-1)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box (4,) against many (n, 4)."""
    top_left = np.maximum(box[:2], boxes[:, :2])
    bottom_right = np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=1)
    area = np.prod(np.clip(box[2:] - box[:2], 0, None))
    areas = np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 0, None), axis=1)
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def decode_detections(output: np.ndarray, top_k: int, iou: float = NMS_IOU) -> list[Detections]:
    """Decode (batch, 4 + nc, anchors) output: xywh + per-class scores per anchor.

    Per image: best class per anchor, sort by score (stable), class-aware greedy
    NMS at ``iou``, keep the first ``top_k``. No confidence threshold.

    Raises:
        ValueError: ``output`` is not (batch, 4 + nc, anchors) with nc >= 1.
    """
    if output.ndim != 3 or output.shape[1] < 5:
        raise ValueError(f"expected YOLO detect output (batch, 4 + classes, anchors), got shape {output.shape}")
    results = []
    for image in output:
        boxes = xywh_to_xyxy(image[:4].T.astype(np.float32))
        class_scores = image[4:]
        classes = class_scores.argmax(axis=0)
        scores = class_scores.max(axis=0).astype(np.float32)
        order = np.argsort(-scores, kind="stable")
        keep = _class_aware_nms(boxes, classes, order, iou, top_k)
        results.append(Detections(boxes[keep], scores[keep], classes[keep].astype(np.int64)))
    return results


def _class_aware_nms(boxes: np.ndarray, classes: np.ndarray, order: np.ndarray, iou: float, top_k: int) -> np.ndarray:
    kept: list[int] = []
    for index in order:
        if len(kept) >= top_k:
            break
        same_class = [k for k in kept if classes[k] == classes[index]]
        if same_class and box_iou(boxes[index], boxes[same_class]).max() > iou:
            continue
        kept.append(int(index))
    return np.asarray(kept, dtype=np.int64)


def match_detections(ref: Detections, got: Detections, iou_threshold: float, score_atol: float) -> MatchReport:
    """Match each reference detection (highest score first) to an unused one in ``got``.

    A counterpart has the same class, IoU >= ``iou_threshold`` and a score within
    ``score_atol``; among several, the highest IoU wins.
    """
    used = np.zeros(len(got), dtype=bool)
    matched = 0
    first_mismatch: str | None = None
    for i in range(len(ref)):
        candidates = np.flatnonzero((got.classes == ref.classes[i]) & ~used)
        ious = box_iou(ref.boxes[i], got.boxes[candidates]) if len(candidates) else np.zeros(0)
        score_ok = np.abs(got.scores[candidates] - ref.scores[i]) <= score_atol
        good = (ious >= iou_threshold) & score_ok
        if good.any():
            best = candidates[good][np.argmax(ious[good])]
            used[best] = True
            matched += 1
        elif first_mismatch is None:
            first_mismatch = _describe_miss(i, ref, got, candidates, ious)
    total = len(ref)
    return MatchReport(matched / total if total else 1.0, matched, total, first_mismatch)


def _describe_miss(i: int, ref: Detections, got: Detections, candidates: np.ndarray, ious: np.ndarray) -> str:
    box = ", ".join(f"{v:.1f}" for v in ref.boxes[i])
    what = f"reference #{i} class {int(ref.classes[i])} box [{box}] score {ref.scores[i]:.4g}"
    if not len(candidates):
        return f"{what}: no unmatched detection of that class"
    best = candidates[np.argmax(ious)]
    return f"{what}: best candidate IoU {ious.max():.3f}, score {got.scores[best]:.4g}"


def select_end2end(output: np.ndarray, top_k: int, max_det: int = 300) -> list[Detections]:
    """What ultralytics' end-to-end head (``Detect.postprocess``) picks from its raw one-to-one output, no NMS.

    ``output``: ``(batch, 4 + nc, anchors)``, xyxy boxes and per-class scores. Per image, as
    ``Detect.get_topk_index`` (one group): the ``k = min(max_det, anchors)`` anchors of highest best-class score,
    then the ``k`` highest (anchor, class) scores among them (an anchor may appear with several classes); the
    first ``top_k`` of those, highest score first.

    Raises:
        ValueError: ``output`` is not (batch, 4 + nc, anchors) with nc >= 1.
    """
    if output.ndim != 3 or output.shape[1] < 5:
        raise ValueError(f"expected YOLO detect output (batch, 4 + classes, anchors), got shape {output.shape}")
    results = []
    for image in output:
        boxes, class_scores = image[:4].T.astype(np.float32), image[4:].T.astype(np.float32)  # (A, 4), (A, nc)
        nc = class_scores.shape[1]
        k = min(max_det, len(class_scores))
        anchors = np.argsort(-class_scores.max(axis=1), kind="stable")[:k]
        flat = class_scores[anchors].reshape(-1)
        best = np.argsort(-flat, kind="stable")[: min(k, top_k)]
        chosen = anchors[best // nc]
        results.append(Detections(boxes[chosen], flat[best], (best % nc).astype(np.int64)))
    return results


def final_detections(output: np.ndarray, top_k: int) -> list[Detections]:
    """Parse final detections ``(batch, n, 6)``: ``x1, y1, x2, y2, score, class`` rows (ultralytics' end-to-end
    format, also the embedded-NMS graph's); rows of score <= 0 are padding. The ``top_k`` highest, score first.

    Raises:
        ValueError: ``output`` is not (batch, n, 6).
    """
    if output.ndim != 3 or output.shape[2] != 6:
        raise ValueError(f"expected final detections (batch, detections, 6), got shape {output.shape}")
    results = []
    for image in output.astype(np.float32):
        rows = image[image[:, 4] > 0]
        rows = rows[np.argsort(-rows[:, 4], kind="stable")[:top_k]]
        results.append(Detections(rows[:, :4], rows[:, 4], np.rint(rows[:, 5]).astype(np.int64)))
    return results

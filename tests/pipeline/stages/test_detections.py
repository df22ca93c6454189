"""detections.py on hand-built outputs whose right answers follow from the geometry."""

from __future__ import annotations

import numpy as np
import pytest

from builder.yolo.detections import Detections, box_iou, decode_detections, match_detections, xywh_to_xyxy


def _output(rows: list[tuple[float, float, float, float, int, float]], nc: int = 3) -> np.ndarray:
    """(1, 4 + nc, n) output from (cx, cy, w, h, class, score) rows; other classes score score/10."""
    out = np.zeros((1, 4 + nc, len(rows)), dtype=np.float32)
    for i, (cx, cy, w, h, cls, score) in enumerate(rows):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4:, i] = score / 10
        out[0, 4 + cls, i] = score
    return out


def test_xywh_to_xyxy_and_iou() -> None:
    boxes = xywh_to_xyxy(np.array([[10.0, 10.0, 4.0, 2.0], [11.0, 10.0, 4.0, 2.0]]))
    np.testing.assert_allclose(boxes, [[8, 9, 12, 11], [9, 9, 13, 11]])
    # overlap 3x2=6, union 8+8-6=10
    np.testing.assert_allclose(box_iou(boxes[0], boxes), [1.0, 0.6])
    assert box_iou(np.array([0.0, 0, 0, 0]), np.array([[0.0, 0, 0, 0]]))[0] == 0.0  # empty union


def test_decode_sorts_by_score_and_applies_class_aware_nms() -> None:
    rows = [
        (10, 10, 4, 4, 0, 0.010),  # kept (best of class 0)
        (10.2, 10, 4, 4, 0, 0.020),  # best overall
        (10, 10, 4, 4, 1, 0.015),  # same place, other class: kept
        (40, 40, 4, 4, 0, 0.005),  # far away: kept
    ]
    (dets,) = decode_detections(_output(rows), top_k=10)
    # row 0 overlaps row 1 (IoU 0.9 > 0.7, same class) and is suppressed
    assert dets.classes.tolist() == [0, 1, 0]
    np.testing.assert_allclose(dets.scores, [0.020, 0.015, 0.005])
    np.testing.assert_allclose(dets.boxes[0], [8.2, 8, 12.2, 12])


def test_decode_keeps_top_k_without_confidence_threshold() -> None:
    rows = [(10 * i, 10 * i, 4, 4, i % 3, 1e-6 * (i + 1)) for i in range(8)]
    (dets,) = decode_detections(_output(rows), top_k=3)
    assert len(dets) == 3
    np.testing.assert_allclose(dets.scores, [8e-6, 7e-6, 6e-6])


def test_decode_rejects_wrong_layout() -> None:
    with pytest.raises(ValueError, match="4 \\+ classes"):
        decode_detections(np.zeros((1, 4, 10), dtype=np.float32), top_k=5)


def _dets(rows: list[tuple[float, float, float, float, int, float]]) -> Detections:
    return Detections(
        np.array([r[:4] for r in rows], dtype=np.float32).reshape(-1, 4),
        np.array([r[5] for r in rows], dtype=np.float32),
        np.array([r[4] for r in rows], dtype=np.int64),
    )


def test_match_identical_and_small_differences() -> None:
    ref = _dets([(0, 0, 10, 10, 0, 0.5), (20, 20, 30, 30, 1, 0.4)])
    assert match_detections(ref, ref, 0.9, 0.01) == match_detections(ref, ref, 0.99, 0.0)
    report = match_detections(ref, _dets([(20, 20, 30, 30.2, 1, 0.405), (0, 0, 10, 10, 0, 0.5)]), 0.9, 0.01)
    assert (report.agreement, report.matched, report.total, report.first_mismatch) == (1.0, 2, 2, None)


def test_match_reports_the_first_missing_detection() -> None:
    ref = _dets([(0, 0, 10, 10, 0, 0.5), (20, 20, 30, 30, 1, 0.4), (50, 50, 60, 60, 2, 0.3)])
    got = _dets([(0, 0, 10, 10, 0, 0.5), (25, 20, 35, 30, 1, 0.4), (50, 50, 60, 60, 1, 0.3)])
    report = match_detections(ref, got, 0.9, 0.01)
    assert (report.matched, report.total) == (1, 3)
    assert report.agreement == pytest.approx(1 / 3)
    # shifted by half its width: IoU 50/150
    assert report.first_mismatch == (
        "reference #1 class 1 box [20.0, 20.0, 30.0, 30.0] score 0.4: best candidate IoU 0.333, score 0.4"
    )


def test_match_fails_on_score_and_class_and_uses_each_candidate_once() -> None:
    ref = _dets([(0, 0, 10, 10, 0, 0.5), (0, 0, 10, 10, 0, 0.49)])
    got = _dets([(0, 0, 10, 10, 0, 0.5)])
    report = match_detections(ref, got, 0.9, 0.05)
    assert report.matched == 1
    assert report.first_mismatch is not None and "no unmatched detection of that class" in report.first_mismatch
    assert match_detections(_dets([(0, 0, 10, 10, 0, 0.5)]), _dets([(0, 0, 10, 10, 0, 0.6)]), 0.9, 0.05).matched == 0
    assert match_detections(_dets([(0, 0, 10, 10, 0, 0.5)]), _dets([(0, 0, 10, 10, 1, 0.5)]), 0.9, 0.05).matched == 0


def test_match_with_empty_reference_agrees_fully() -> None:
    empty = _dets([])
    assert match_detections(empty, _dets([(0, 0, 1, 1, 0, 0.1)]), 0.9, 0.01).agreement == 1.0

"""Instance-level agreement of an artifact with the FP32 reference, for the tasks with boxes (verify stage)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (name, smallest value, f(reference image, i, artifact image, j)): a second check on a matched instance
Extra = tuple[str, float, Callable[[dict[str, Any], int, dict[str, Any], int], float]]
BoxIou = Callable[[Any, Any], Any]  # (1, 4|5) boxes, (m, 4|5) boxes -> (1, m)


@dataclass(frozen=True)
class Agreement:
    agreement: float
    matched: int
    total: int
    first_mismatch: str | None


def axis_aligned_iou(box: Any, boxes: Any) -> Any:
    import torch
    from ultralytics.utils.metrics import box_iou

    return box_iou(torch.as_tensor(box), torch.as_tensor(boxes)).numpy()


def compare_instances(
    refs: list[dict[str, Any]],
    gots: list[dict[str, Any]],
    confident: list[dict[str, Any]],
    iou: float,
    score_atol: float,
    extra: Extra | None = None,
    box_iou: BoxIou = axis_aligned_iou,
) -> list[Agreement]:
    """Per image: every reference instance must have an artifact instance (from ``gots``, decoded at a confidence
    ``score_atol`` lower) of its class with box IoU >= ``iou``, confidence within ``score_atol`` and the ``extra``
    check; an artifact instance of ``confident`` (decoded ``score_atol`` higher) that no reference instance
    explains counts as a miss too. agreement = matched / (reference instances + unexplained ones)."""
    return [_image(r, g, c, iou, score_atol, extra, box_iou) for r, g, c in zip(refs, gots, confident, strict=True)]


def _image(
    ref: dict[str, Any],
    got: dict[str, Any],
    confident: dict[str, Any],
    iou: float,
    score_atol: float,
    extra: Extra | None,
    box_iou: BoxIou,
) -> Agreement:
    import numpy as np

    used: set[int] = set()
    matched, first = 0, None
    for i in np.argsort(-ref["conf"], kind="stable"):
        same = [j for j in range(len(got["cls"])) if got["cls"][j] == ref["cls"][i] and j not in used]
        problem = f"reference instance {i} (class {int(ref['cls'][i])}, conf {ref['conf'][i]:.3f})"
        if not same:
            first = first or f"{problem}: no artifact instance of its class"
            continue
        ious = box_iou(ref["boxes"][i : i + 1], got["boxes"][same])[0]
        best = same[int(np.argmax(ious))]
        if ious.max() < iou:
            first = first or f"{problem}: best box IoU {ious.max():.3f} < {iou}"
            continue
        if abs(got["conf"][best] - ref["conf"][i]) > score_atol:
            first = first or f"{problem}: conf {got['conf'][best]:.3f} differs by more than {score_atol}"
            continue
        if extra is not None:
            name, floor, check = extra
            value = check(ref, int(i), got, best)
            if value < floor:
                first = first or f"{problem}: {name} {value:.3f} < {floor}"
                continue
        used.add(best)
        matched += 1
    unexplained = 0
    for j in range(len(confident["cls"])):
        same = [i for i in range(len(ref["cls"])) if ref["cls"][i] == confident["cls"][j]]
        if not same or box_iou(confident["boxes"][j : j + 1], ref["boxes"][same])[0].max() < iou:
            unexplained += 1
            first = first or f"artifact instance {j} (class {int(confident['cls'][j])}) has no reference instance"
    total = len(ref["cls"]) + unexplained
    return Agreement(matched / total if total else 1.0, matched, total, first)

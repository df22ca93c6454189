"""Stage ``verify``: passes on the real ORT build, and each check fails on a model perturbed to break it."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from builder.errors import VerificationError
from builder.pipeline.stage_types import ArtifactOut, BuildResult, StageContext, StageResult
from builder.pipeline.stages import verify as verify_stage
from builder.profile import Tolerance, VerifySpec
from builder.yolo.preprocess import ImageError
from tests.pipeline.stages.helpers import onnx_with_output_offset, with_prior
from tests.support import make_profile


def _with_model(ctx: StageContext, model: Path) -> StageContext:
    """``ctx`` whose build result points at ``model`` (a file in the build folder)."""
    build = ctx.handed(BuildResult)
    assert build is not None
    art = ArtifactOut(model.name, "model")
    return with_prior(ctx, build=StageResult(artifacts=(art,), output=replace(build, model=art)))


def _perturbed(ctx: StageContext, name: str, offset: np.ndarray) -> StageContext:
    model = onnx_with_output_offset(ctx.workdir / "model.ort.onnx", ctx.workdir / name, offset)
    return _with_model(ctx, model)


def test_verify_passes_and_reports(built: StageContext) -> None:
    details = verify_stage.run(built).details
    # batch 1 (static): 2 random inputs + bus.jpg + zidane.jpg
    assert [(i["input"], i["batch"]) for i in details["tensors"]["iterations"]] == [
        ("random 0", 1),
        ("random 1", 1),
        ("image bus.jpg", 1),
        ("image zidane.jpg", 1),
    ]
    stats = details["tensors"]["outputs"]["output0"]
    assert (stats["atol"], stats["rtol"], stats["failed_inputs"]) == (1e-3, 1e-3, 0)
    images = details["detections"]["images"]
    assert [r["input"] for r in images] == ["image bus.jpg", "image zidane.jpg"]
    # 84 anchors at imgsz 64; class-aware NMS leaves fewer than top_k
    assert all(r["agreement"] == 1.0 and 0 < r["matched"] == r["total"] <= 84 for r in images)
    assert all(r["first_mismatch"] is None and r["passed"] for r in images)
    assert details["detections"]["thresholds"]["top_k"] == 100
    json.dumps(details, allow_nan=False)


def test_verify_measures_small_differences_within_tolerance(built: StageContext) -> None:
    offset = 2.0**-12  # a multiple of float32's spacing at every |value| < 512: the sum is exact
    details = verify_stage.run(_perturbed(built, "tiny-offset.onnx", np.full((1, 1, 1), offset))).details
    stats = details["tensors"]["outputs"]["output0"]
    assert stats["failed_inputs"] == 0
    assert stats["max_abs"] == pytest.approx(offset, rel=1e-3)
    assert all(r["passed"] for r in details["detections"]["images"])


def test_tensor_check_fails_on_an_output_offset(built: StageContext) -> None:
    ctx = _perturbed(built, "offset.onnx", np.full((1, 1, 1), 0.01))
    with pytest.raises(VerificationError) as info:
        verify_stage.run(ctx)
    message = info.value.message
    assert "offset.onnx: output 'output0' exceeds atol 0.001 / rtol 0.001 on 4 of 4 input(s)" in message
    assert "worst max abs error 0.01" in message
    assert "verify.tolerances.output0" in (info.value.hint or "")
    details = info.value.details  # type: ignore[attr-defined]
    assert not any(i["passed"] for i in details["tensors"]["iterations"])
    assert all(r["passed"] for r in details["detections"]["images"])  # 0.01 moves no detection: only tensors fail


def test_non_finite_outputs_fail_and_details_stay_strict_json(built: StageContext) -> None:
    with pytest.raises(VerificationError, match="output 'output0' exceeds .* max abs error inf") as info:
        verify_stage.run(_perturbed(built, "nan.onnx", np.full((1, 1, 1), np.nan)))
    json.dumps(info.value.details, allow_nan=False)  # type: ignore[attr-defined]


def test_detection_check_fails_when_boxes_move(built: StageContext) -> None:
    loose = VerifySpec(tolerances={"default": Tolerance(atol=1e6, rtol=1e6)})
    ctx = replace(_perturbed(built, "shifted.onnx", _box_shift(1000.0)), profile=make_profile(verify=loose))
    with pytest.raises(VerificationError) as info:
        verify_stage.run(ctx)
    message = info.value.message
    expected = r"shifted.onnx: detections on image bus.jpg \(batch 1, image 0\) agree 0.0% \(0/\d+\), below 98.0%"
    assert re.search(expected, message)
    assert "first disagreement: reference #0 class" in message and "best candidate IoU 0.000" in message
    details = info.value.details  # type: ignore[attr-defined]
    assert details["tensors"]["outputs"]["output0"]["failed_inputs"] == 0  # tensors pass: only detections fail


def test_detection_check_fails_on_a_class_swap(built: StageContext) -> None:
    loose = VerifySpec(tolerances={"default": Tolerance(atol=1e6, rtol=1e6)})
    offset = np.zeros((1, 84, 1), dtype=np.float32)
    offset[0, 4 + 7, 0] = 0.5  # every box now scores highest for class 7
    ctx = replace(_perturbed(built, "class7.onnx", offset), profile=make_profile(verify=loose))
    with pytest.raises(VerificationError, match="no unmatched detection of that class"):
        verify_stage.run(ctx)


def test_missing_sample_image_fails_before_inference(built: StageContext) -> None:
    spec = VerifySpec(images=("nowhere.jpg",), tolerances={"default": Tolerance(1e-3, 1e-3)})
    with pytest.raises(ImageError, match="nowhere.jpg") as info:
        verify_stage.run(replace(built, profile=make_profile(verify=spec)))
    assert info.value.hint


def _box_shift(pixels: float) -> np.ndarray:
    offset = np.zeros((1, 84, 1), dtype=np.float32)
    offset[0, 0, 0] = pixels  # centre x
    return offset

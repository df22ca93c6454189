"""cpu-int8-<task>: ONNX Runtime INT8 of each task fixture passes task-level verification and the gate (drop of the
task's metric within 0.03 of FP32), and the same build with the whole head quantized (``int8.head: int8``, the
broken head rule) fails the gate: the head's one output tensor mixes coordinates (0..imgsz) and scores (0..1)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from builder.pipeline.stage_types import StageContext
from builder.pipeline.stages import build as build_stage
from builder.pipeline.stages import evaluate
from builder.pipeline.stages import export as export_stage
from builder.pipeline.stages import verify as verify_stage
from builder.pipeline.stages.evaluate import AccuracyGateError
from builder.profile import load_profile
from tests.pipeline.stages.helpers import make_ctx, with_prior
from tests.support import REPO

pytestmark = pytest.mark.slow


def _stages(name: str, tmp_path: Path, head: str | None = None) -> StageContext:
    profile = load_profile(name, REPO / "profiles")
    if head is not None:
        assert profile.int8 is not None
        profile = replace(profile, int8=replace(profile.int8, head=head, cache="off"))
    ctx = make_ctx(profile, tmp_path, models_dir=REPO / "models")
    exported = with_prior(ctx, export=export_stage.run(ctx))
    return with_prior(exported, build=build_stage.run(exported))


@pytest.mark.parametrize("task", ["segment", "pose", "obb", "classify"])
def test_int8_passes_task_verification_and_the_gate(task: str, tmp_path: Path) -> None:
    built = _stages(f"cpu-int8-{task}", tmp_path)
    verify = verify_stage.run(built).details["detections"]
    assert verify["task"] == task and all(row["passed"] for row in verify["images"])
    details = evaluate.run(built).details
    assert details["passed"] == {"drop": True, "floor": True} and details["map50_95_drop"] <= 0.03


@pytest.mark.parametrize("task", ["segment", "pose", "obb"])
def test_int8_with_the_whole_head_quantized_fails_the_gate(task: str, tmp_path: Path) -> None:
    built = _stages(f"cpu-int8-{task}", tmp_path, head="int8")
    with pytest.raises(AccuracyGateError) as caught:
        evaluate.run(built)
    assert caught.value.details["task"] == task and caught.value.details["map50_95_drop"] > 0.03

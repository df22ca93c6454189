"""Stage ``evaluate``: skipped without a gate, the verdicts of the gate, and any backend reached the same way.

The real builds of the trained fixture (gate passing for FP32 and INT8, failing for a head-quantized INT8) are in
tests/accuracy/test_map_gate.py; these use the session's untrained 64x64 export and a tiny shapes split.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from builder.backends.registry import get_backend
from builder.pipeline.stage_types import BuildResult, StageContext, StageStatus
from builder.pipeline.stages import PIPELINE, STAGE_NAMES
from builder.pipeline.stages import evaluate as evaluate_stage
from builder.pipeline.stages.evaluate import AccuracyGateError, gate_report
from builder.profile import AccuracySpec, Backend
from builder.yolo.dataset import DatasetError
from builder.yolo.evaluation import MapResult
from fixture_trainer.shapes import ShapesSpec, generate
from tests.pipeline.stages.helpers import make_ctx
from tests.support import make_profile

DATA = "shapes/data.yaml"


def _result(map50_95: float, per_class: dict[str, float]) -> MapResult:
    return MapResult(min(1.0, map50_95 + 0.05), map50_95, dict(per_class), dict(per_class), 10, 20)


def test_evaluate_sits_after_verify_and_before_benchmark() -> None:
    assert STAGE_NAMES.index("evaluate") == STAGE_NAMES.index("verify") + 1
    assert STAGE_NAMES.index("benchmark") == STAGE_NAMES.index("evaluate") + 1
    assert PIPELINE[STAGE_NAMES.index("evaluate")] is evaluate_stage


def test_without_an_accuracy_block_the_stage_is_skipped(tmp_path: Path) -> None:
    result = evaluate_stage.run(make_ctx(make_profile(), tmp_path))
    assert result.status is StageStatus.SKIPPED and "accuracy" in result.details["skipped"]


def test_gate_report_drop_and_per_class_deltas() -> None:
    reference = _result(0.80, {"a": 0.9, "b": 0.7})
    artifact = _result(0.78, {"a": 0.9, "b": 0.66})
    report = gate_report(AccuracySpec(DATA, max_map_drop=0.01), reference, artifact)
    assert report["map50_95_drop"] == pytest.approx(0.02)
    assert report["per_class_ap50_95_delta"] == {"a": 0.0, "b": pytest.approx(-0.04)}
    assert report["passed"] == {"drop": False, "floor": True}
    assert gate_report(AccuracySpec(DATA, max_map_drop=0.02), reference, artifact)["passed"]["drop"] is True
    floor = gate_report(AccuracySpec(DATA, max_map_drop=0.05, min_map50_95=0.79), reference, artifact)
    assert floor["passed"] == {"drop": True, "floor": False}


def test_a_class_the_artifact_lost_counts_as_zero() -> None:
    report = gate_report(AccuracySpec(DATA), _result(0.5, {"a": 0.6, "b": 0.4}), _result(0.3, {"a": 0.6}))
    assert report["per_class_ap50_95_delta"]["b"] == pytest.approx(-0.4)


@pytest.fixture(scope="module")
def shapes_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("evaluate-models")
    generate(models / "shapes", ShapesSpec(train=1, val=4), splits=("val",))
    return models


def _gated(built: StageContext, models: Path, tmp_path: Path, **accuracy: Any) -> StageContext:
    profile = replace(built.profile, accuracy=AccuracySpec(DATA, **accuracy))
    return make_ctx(profile, tmp_path, models_dir=models, **built.prior)


def _copy_build(built: StageContext, ctx: StageContext) -> None:
    for name in ("model.onnx", "model.ort.onnx"):
        (ctx.workdir / name).write_bytes((built.workdir / name).read_bytes())


def test_floor_failure_names_the_numbers(built: StageContext, shapes_models: Path, tmp_path: Path) -> None:
    """The untrained test model scores about 0: a floor of 0.5 fails the stage with both numbers in the message."""
    ctx = _gated(built, shapes_models, tmp_path, min_map50_95=0.5)
    _copy_build(built, ctx)
    with pytest.raises(AccuracyGateError) as caught:
        evaluate_stage.run(ctx)
    assert "below `accuracy.min_map50_95` 0.5" in str(caught.value) and caught.value.hint
    assert caught.value.details["artifact"]["images"] == 4


def test_a_missing_data_set_is_a_user_error(built: StageContext, tmp_path: Path) -> None:
    ctx = _gated(built, tmp_path / "empty-models", tmp_path)
    with pytest.raises(DatasetError, match="does not exist") as caught:
        evaluate_stage.run(ctx)
    assert "accuracy.data" in (caught.value.hint or "")


def test_a_tensorrt_build_is_scored_through_the_tensorrt_backends_runner(
    built: StageContext, shapes_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same stage, backend tensorrt: the artifact runs in what ``tensorrt.make_runner`` returns (TrtRunner on a
    GPU host). TensorRT cannot run here, so its one runner call, ``trt_calls.trt_runner(plan)``, is replaced by an
    ONNX Runtime runner over the "plan" (the ONNX model's bytes); everything else is the real TensorRT backend code."""
    from builder.backends.onnxruntime import onnxrt_runner
    from builder.backends.tensorrt import trt_calls

    plans: list[bytes] = []

    def fake_trt_runner(plan: bytes) -> Any:
        plans.append(plan)
        path = tmp_path / "plan-as-onnx.onnx"
        path.write_bytes(plan)
        return onnxrt_runner(path, name="fake-trt")

    monkeypatch.setattr(trt_calls, "trt_runner", fake_trt_runner)
    ctx = _gated(built, shapes_models, tmp_path)
    ctx = replace(ctx, profile=replace(ctx.profile, backend=Backend.TENSORRT))
    _copy_build(built, ctx)
    plan = ctx.workdir / "model.plan"
    plan.write_bytes((built.workdir / "model.onnx").read_bytes())
    build = ctx.handed(BuildResult)
    assert build is not None
    ctx = make_ctx(
        ctx.profile,
        tmp_path,
        models_dir=shapes_models,
        **{
            **ctx.prior,
            "build": replace(ctx.prior["build"], output=replace(build, model=replace(build.model, path="model.plan"))),
        },
    )
    assert get_backend(ctx.profile.backend.value).NAME == "tensorrt"
    details = evaluate_stage.run(ctx).details
    assert plans == [plan.read_bytes()]  # the artifact went through the TensorRT backend's runner, once
    assert details["artifact"] == details["reference"] and details["map50_95_drop"] == 0.0

"""The trained YOLO26n detect fixture (models/fixtures/shapes-yolo26n.pt) behind the end-to-end profiles
(cpu-fp32-yolo26-e2e, a10-fp16-e2e): its pin, its record, and, on the real checkpoint, that the end-to-end artifact
passes verification and the mAP gate at the recorded score while a genuinely degraded one fails the gate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builder.common.hashing import sha256_file
from builder.pipeline.stage_types import StageContext
from builder.pipeline.stages import build as build_stage
from builder.pipeline.stages import evaluate
from builder.pipeline.stages import export as export_stage
from builder.pipeline.stages import verify as verify_stage
from builder.pipeline.stages.evaluate import AccuracyGateError
from builder.profile import load_profile
from builder.record.weights import weights_fingerprint
from fixture_trainer.pin import MIN_MAP50_95
from tests.fixture_trainer.test_task_gates import _perturbed
from tests.pipeline.stages.helpers import make_ctx, with_prior
from tests.support import REPO

MODELS = REPO / "models"
RECORD = MODELS / "fixtures" / "shapes-yolo26n.json"
PROFILES = ("cpu-fp32-yolo26-e2e", "a10-fp16-e2e")


@pytest.fixture(scope="module")
def record() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(RECORD.read_text())
    return loaded


@pytest.mark.parametrize("name", PROFILES)
def test_the_end_to_end_profiles_build_the_pinned_trained_fixture(name: str, record: dict[str, Any]) -> None:
    digest = sha256_file(MODELS / "fixtures" / record["checkpoint"])
    assert digest == record["sha256"]
    profile = load_profile(name, REPO / "profiles")
    assert profile.model.checkpoint == f"fixtures/{record['checkpoint']}" and profile.model.sha256 == digest
    fingerprint = weights_fingerprint(profile.model, MODELS)
    assert fingerprint.sha256 == digest and not fingerprint.untrained  # trained: every check means something
    assert profile.outputs.nms == "end2end"
    assert profile.accuracy is not None and profile.accuracy.min_map50_95 is not None
    assert profile.accuracy.min_map50_95 <= record["metrics"]["evaluate_cpu"]["map50_95"] - 0.03  # room, not slack


def test_the_record_says_how_it_was_made_on_the_detect_fixtures_data(record: dict[str, Any]) -> None:
    detect = json.loads((MODELS / "fixtures" / "shapes-yolo11n.json").read_text())
    assert record["dataset"] == detect["dataset"]  # the same shapes set as the YOLO11n detect fixture
    assert record["training"]["model"] == "yolo26n.yaml" and record["training"]["epochs"] > 0
    assert record["metrics"]["ultralytics_val"]["map50_95"] >= MIN_MAP50_95
    assert record["metrics"]["evaluate_cpu"]["map50_95"] >= MIN_MAP50_95


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    """Export (nms=False: output0 (1, 300, 6)) and ONNX Runtime build of cpu-fp32-yolo26-e2e on the real checkpoint."""
    profile = load_profile("cpu-fp32-yolo26-e2e", REPO / "profiles")
    ctx = make_ctx(profile, tmp_path_factory.mktemp("e2e"), models_dir=MODELS)
    exported = with_prior(ctx, export=export_stage.run(ctx))
    return with_prior(exported, build=build_stage.run(exported))


@pytest.mark.slow
def test_the_end_to_end_artifact_passes_verify_and_scores_the_recorded_map(
    built: StageContext, record: dict[str, Any]
) -> None:
    assert [tuple(o.shape) for o in built.prior["export"].output.outputs] == [(1, 300, 6)]
    verify = verify_stage.run(built).details["detections"]
    assert verify["images"] and all(row["passed"] and row["agreement"] == 1.0 for row in verify["images"])
    details = evaluate.run(built).details
    assert details["passed"] == {"drop": True, "floor": True}
    assert details["artifact"]["map50_95"] == pytest.approx(record["metrics"]["evaluate_cpu"]["map50_95"], abs=0.005)


@pytest.mark.slow
def test_a_degraded_end_to_end_artifact_fails_the_map_gate(built: StageContext, tmp_path: Path) -> None:
    ctx = make_ctx(built.profile, tmp_path, models_dir=built.models_dir, **built.prior)
    for name in ("model.onnx", "model.ort.onnx"):
        (ctx.workdir / name).write_bytes((built.workdir / name).read_bytes())
    _perturbed(ctx, 0.3)
    with pytest.raises(AccuracyGateError) as caught:
        evaluate.run(ctx)
    assert caught.value.details["passed"]["drop"] is False and caught.value.details["map50_95_drop"] > 0.01

"""The mAP gate on real builds of the trained fixture (bare, in temp folders; ONNX Runtime on this CPU).

FP32 and INT8 with the head in float pass; INT8 with the head quantized too is a *real* degradation (nothing
injected: ONNX Runtime's own quantizer on the whole graph) and the build fails in ``evaluate`` with the drop named.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from builder.errors import ExitCode, StageError
from builder.pipeline.run import BuildSettings, run_build
from builder.pipeline.stages.evaluate import AccuracyGateError
from builder.profile import AccuracySpec, Profile, load_profile
from tests.fixture_trainer.conftest import MODELS
from tests.support import REPO

pytestmark = pytest.mark.slow
DATA = "fixtures/shapes/data.yaml"


def _build(profile: Profile, models: Path, out: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    settings = BuildSettings(artifacts=out, models=models, cache_dir=cache_dir, force=True, log=lambda line: None)
    manifest: dict[str, Any] = json.loads((run_build(profile, settings).build_dir / "manifest.json").read_text())
    return manifest


def _stage(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    stages = manifest["stages"]
    found: dict[str, Any] = next(s for s in stages if s["name"] == name) if isinstance(stages, list) else stages[name]
    return found


def _quick(profile: Profile) -> Profile:
    return replace(profile, benchmark=replace(profile.benchmark, warmup=1, iterations=3))


def test_fp32_passes_and_scores_the_fixture_record(models_dir: Path, tmp_path: Path) -> None:
    """Whole val split: the FP32 artifact's numbers are the fixture record's (another evaluator, same pieces)."""
    record = json.loads((MODELS / "fixtures" / "shapes-yolo11n.json").read_text())["metrics"]["evaluate_cpu"]
    profile = _quick(replace(load_profile("cpu-fp32-shapes", REPO / "profiles"), accuracy=AccuracySpec(DATA)))
    evaluate = _stage(_build(profile, models_dir, tmp_path), "evaluate")
    details = evaluate["details"]
    assert evaluate["status"] == "ok" and details["passed"] == {"drop": True, "floor": True}
    for side in ("reference", "artifact"):
        assert details[side]["images"] == record["images"] and details[side]["objects"] == record["objects"]
        assert details[side]["map50_95"] == pytest.approx(record["map50_95"], abs=0.005)
        assert details[side]["map50"] == pytest.approx(record["map50"], abs=0.005)
        for name, ap in record["per_class_ap50_95"].items():
            assert details[side]["per_class_ap50_95"][name] == pytest.approx(ap, abs=0.02)
    assert abs(details["map50_95_drop"]) <= 0.002  # FP32 ORT-optimized vs FP32 export: the same model


def test_cpu_int8_with_the_head_decode_in_float_passes_the_gate(models_dir: Path, tmp_path: Path) -> None:
    manifest = _build(_quick(load_profile("cpu-int8", REPO / "profiles")), models_dir, tmp_path, tmp_path / "cache")
    build, evaluate = (_stage(manifest, "build")["details"], _stage(manifest, "evaluate")["details"])
    head = build["int8"]["head"]
    assert (head["prefix"], head["mode"]) == ("/model.23/", "decode") and head["nodes_in_float"] == 24  # YOLO11n
    assert build["int8"]["calibration_data"]["images"] == 64
    assert build["nodes"]["quantized"] > build["nodes"]["onnx"]  # QDQ pairs were inserted
    assert evaluate["passed"] == {"drop": True, "floor": True}
    assert evaluate["map50_95_drop"] <= 0.01
    assert evaluate["artifact"]["map50_95"] > 0.85
    assert manifest["inputs"]["calibration"]["sha256"] == build["int8"]["calibration_data"]["sha256"]
    assert manifest["key_inputs"]["calibration_data_sha256"] == build["int8"]["calibration_data"]["sha256"]
    cache = build["int8"]["calibration_cache"]
    assert cache["status"] == "calibrated" and cache["key"]["images_used"] == 64 and Path(cache["cache"]).is_file()


def test_quantizing_the_head_too_fails_the_build_with_the_drop_named(models_dir: Path, tmp_path: Path) -> None:
    profile = _quick(load_profile("cpu-int8", REPO / "profiles"))
    profile = replace(
        profile,
        int8=replace(profile.int8, head="int8"),
        # verify's detection check would stop this build first (2% agreement); let the mAP gate be the judge
        verify=replace(profile.verify, detection=replace(profile.verify.detection, min_agreement=0.01)),
    )
    with pytest.raises(AccuracyGateError) as caught:
        _build(profile, models_dir, tmp_path)
    err = caught.value
    assert isinstance(err, StageError) and err.stage == "evaluate" and err.exit_code is ExitCode.STAGE
    assert "below the FP32 reference" in str(err) and "allowed drop 0.01" in str(err) and err.hint
    assert err.details["map50_95_drop"] > 0.5  # the scores collapse: a real, large loss
    assert err.details["passed"]["drop"] is False
    manifest = json.loads(next((tmp_path / "cpu-int8").rglob("manifest.json")).read_text())
    failed = _stage(manifest, "evaluate")
    assert failed["status"] == "failed" and failed["details"]["map50_95_drop"] == err.details["map50_95_drop"]

"""End to end on a GPU host: export yolo11n.yaml (seed 0), build an FP16 TensorRT engine, verify it against
ONNX Runtime FP32, benchmark it, rebuild with the warm timing cache. Skipped without TensorRT and a GPU."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from builder.backends.tensorrt import engine_files
from builder.backends.tensorrt import make_runner
from builder.profile import OutputsSpec, Profile, load_profile
from builder.stages import benchmark_model, build_model, export_onnx, verify_model
from builder.stage_types import StageContext
from tests.support import REPO

pytestmark = pytest.mark.gpu


def fp16_profile() -> Profile:
    """The shipped h100-fp16 profile (640, batch 1, fp16 tolerances) without its target, for any GPU."""
    profile = load_profile("h100-fp16", REPO / "profiles")
    return replace(profile, name="gpu-e2e-fp16", target=None, timing_cache="e2e",
                   outputs=OutputsSpec(ultralytics_engine=True))


def context(root: Path, profile: Profile, cache: Path) -> StageContext:
    for sub in ("build", "scratch", "models"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return StageContext(profile, root / "build", root / "scratch", root / "models", cache, print)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    root, cache = tmp_path_factory.mktemp("e2e"), tmp_path_factory.mktemp("cache")
    ctx = context(root, fp16_profile(), cache)
    ctx = replace(ctx, prior={"export": export_onnx.run(ctx)})
    return replace(ctx, prior={**ctx.prior, "build": build_model.run(ctx)})


def test_build_records_what_it_did(built: StageContext) -> None:
    build = built.prior["build"]
    details = build.details
    assert build.artifact("model").path == "model.plan" and build.artifact("layers").path == "layers.json"
    assert details["settings"]["builder_flags"] == ["FP16"] and details["settings"]["cleared_flags"] == ["TF32"]
    assert details["timing_cache"]["status"] in ("new", "loaded") and details["timing_cache"]["bytes_after"] > 0
    assert details["layers"] > 0 and details["plan"]["size"] > 0
    plan = (built.workdir / "model.plan").read_bytes()
    assert engine_files.read_plan(built.workdir / "model.engine") == plan
    assert json.loads((built.workdir / "layers.json").read_text())["Layers"]


def test_engine_runs_and_passes_verification(built: StageContext) -> None:
    runner = make_runner(built.workdir / "model.plan", built.profile)
    with runner:
        name = next(iter(runner.get_input_metadata()))
        outputs = runner.infer({name: np.zeros((1, 3, 640, 640), dtype=np.float32)})
    assert next(iter(outputs.values())).shape == (1, 84, 8400)
    report = verify_model.run(built)
    assert report.details


def test_benchmark(built: StageContext) -> None:
    numbers = benchmark_model.run(built).details
    assert numbers["method"] in ("trtexec", "polygraphy-trtrunner") and numbers["throughput_ips"] > 0
    assert numbers["latency_ms"]["p50"] <= numbers["latency_ms"]["p99"]


def test_rebuild_with_the_warm_timing_cache_reaches_layer_equality(built: StageContext, tmp_path: Path) -> None:
    again = context(tmp_path, built.profile, built.cache_dir)
    again = replace(again, prior={"export": built.prior["export"]})
    (again.workdir / "model.onnx").write_bytes((built.workdir / "model.onnx").read_bytes())
    result = build_model.run(again)
    assert result.details["timing_cache"]["status"] == "loaded"
    kind = engine_files.rebuild_equality(
        (built.workdir / "model.plan").read_bytes(), (again.workdir / "model.plan").read_bytes(),
        (built.workdir / "layers.json").read_text(), (again.workdir / "layers.json").read_text(),
    )
    print(f"rebuild equality with a warm timing cache: {kind}")
    assert kind in ("bytes", "layers")

"""Stage ``build`` with the ONNX Runtime backend, and the metadata.json sidecar."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from builder.backends.registry import get_backend
from builder.errors import EngineBuildError, HostEnvironmentError, UsageError
from builder.pipeline.stage_types import StageContext
from builder.pipeline.stages import build as build_stage
from builder.profile import Precision
from tests.pipeline.stages.helpers import make_ctx
from tests.support import make_profile


def test_build_writes_model_and_metadata(built: StageContext) -> None:
    result = built.prior["build"]
    assert {(a.kind, a.path) for a in result.artifacts} == {("model", "model.ort.onnx"), ("metadata", "metadata.json")}
    for artifact in result.artifacts:
        assert built.path(artifact).is_file()
    details = result.details
    assert details["backend"] == "onnxruntime" and details["optimization_level"] == "ORT_ENABLE_BASIC"
    assert "CPUExecutionProvider" in details["host"]["providers"]
    assert details["model"]["size"] == built.path(result.artifact("model")).stat().st_size
    json.dumps(details, allow_nan=False)


def test_metadata_describes_io_preprocessing_and_decoding(built: StageContext) -> None:
    meta = json.loads((built.workdir / "metadata.json").read_text())
    export = built.prior["export"].details
    assert meta["model_file"] == "model.ort.onnx" and meta["backend"] == "onnxruntime"
    assert meta["inputs"] == [{"name": "images", "shape": [1, 3, 64, 64], "dtype": "float32"}]
    assert meta["outputs"] == [{"name": "output0", "shape": [1, 84, 84], "dtype": "float32"}]
    assert meta["names"] == export["names"] == [str(i) for i in range(80)]
    assert (meta["stride"], meta["imgsz"], meta["precision"]) == (32, [64, 64], "fp32")
    assert meta["batch"] == {"min": 1, "opt": 1, "max": 1}
    letterbox = {"color": [114, 114, 114], "center": True, "scaleup": True, "interpolation": "linear"}
    assert meta["preprocessing"]["letterbox"] == letterbox
    assert (meta["preprocessing"]["channel_order"], meta["preprocessing"]["layout"]) == ("RGB", "NCHW")
    assert meta["preprocessing"]["scale"] == pytest.approx(1 / 255)
    assert meta["output_decoding"]["format"] == "xywh+class_scores"
    assert meta["output_decoding"]["layout"] == ["batch", "4+nc", "anchors"]
    assert meta["output_decoding"]["num_classes"] == 80


def test_build_is_byte_identical(built: StageContext, tmp_path: Path) -> None:
    again = make_ctx(built.profile, tmp_path, export=built.prior["export"])
    shutil.copyfile(built.workdir / "model.onnx", again.workdir / "model.onnx")
    build_stage.run(again)
    for name in ("model.ort.onnx", "metadata.json"):
        assert (again.workdir / name).read_bytes() == (built.workdir / name).read_bytes(), name


def test_build_needs_the_export(exported: StageContext, tmp_path: Path) -> None:
    with pytest.raises(EngineBuildError, match="no export result"):
        build_stage.run(make_ctx(exported.profile, tmp_path))
    missing = make_ctx(exported.profile, tmp_path / "other", export=exported.prior["export"])
    with pytest.raises(EngineBuildError, match="model.onnx is missing"):
        build_stage.run(missing)


def test_build_refuses_precisions_the_backend_cannot_build(exported: StageContext) -> None:
    ctx = replace(exported, profile=make_profile(precision=Precision.FP16))
    with pytest.raises(HostEnvironmentError, match="FP32 and INT8 models only.*fp16") as info:
        build_stage.run(ctx)
    assert "tensorrt" in (info.value.hint or "")


def test_registry() -> None:
    backend = get_backend("onnxruntime")
    assert backend.NAME == "onnxruntime"
    for function in ("check_available", "build", "make_runner", "benchmark"):
        assert callable(getattr(backend, function))
    with pytest.raises(UsageError, match="unknown backend 'openvino'") as info:
        get_backend("openvino")
    assert "onnxruntime" in (info.value.hint or "") and "tensorrt" in (info.value.hint or "")

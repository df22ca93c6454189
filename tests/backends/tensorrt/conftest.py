"""Real ONNX exports (yolo11n.yaml, seed 0, imgsz 64) shared by the TensorRT backend tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.pipeline.stages import export
from builder.profile import Backend, BatchSpec
from tests.pipeline.stages.helpers import make_ctx  # sets the no-install / offline environment first
from tests.support import make_profile


def _export(root: Path, **overrides: object) -> Path:
    profile = make_profile(backend=Backend.TENSORRT, name="trt-test", **overrides)
    ctx = make_ctx(profile, root)
    return ctx.path(export.run(ctx).artifact("onnx"))


@pytest.fixture(scope="session")
def static_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.onnx with a fixed (1, 3, 64, 64) input."""
    return _export(tmp_path_factory.mktemp("static-onnx"))


@pytest.fixture(scope="session")
def dynamic_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """model.onnx exported for batch 1..4 (ultralytics makes batch, height and width dynamic)."""
    return _export(tmp_path_factory.mktemp("dynamic-onnx"), batch=BatchSpec(1, 2, 4))

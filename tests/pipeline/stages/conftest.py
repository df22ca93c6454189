"""Shared, expensive fixtures for stage tests: one real export (yolo11n.yaml, imgsz 64) per session."""

from __future__ import annotations

import pytest

from builder.pipeline.stage_types import StageContext
from builder.pipeline.stages import build as build_stage
from builder.pipeline.stages import export as export_stage
from tests.pipeline.stages.helpers import make_ctx, with_prior
from tests.support import make_profile


@pytest.fixture(scope="session")
def exported(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    """A context whose prior holds a real ``export`` result for the default test profile."""
    ctx = make_ctx(make_profile(), tmp_path_factory.mktemp("exported"))
    return with_prior(ctx, export=export_stage.run(ctx))


@pytest.fixture(scope="session")
def built(exported: StageContext) -> StageContext:
    """``exported`` plus a real ONNX Runtime ``build`` result."""
    return with_prior(exported, build=build_stage.run(exported))

"""A build stopped by a signal while in staging leaves ``failed/<id>/manifest.json``
(builder/pipeline/interrupted_build.py):
read through the typed reader, marked failed in the stage that was running, and readable by that reader again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.pipeline.interrupted_build import record_interrupted
from builder.record.layout import MANIFEST_NAME, ArtifactLayout
from builder.record.manifest_read import read_manifest
from tests.ops.fakes import build_id, synthetic_manifest


def _staging(tmp_path: Path, stages: list[dict[str, str]]) -> tuple[ArtifactLayout, Path]:
    layout = ArtifactLayout(tmp_path, "tiny")
    manifest = synthetic_manifest("tiny")
    manifest.update(status="running", finished_at=None, stages=stages)
    staging = layout.staging_dir(manifest["build_id"])
    staging.mkdir(parents=True)
    (staging / MANIFEST_NAME).write_text(json.dumps(manifest))
    (staging / "model.onnx").write_bytes(b"half-written")
    return layout, staging


@pytest.mark.parametrize(
    ("states", "stopped"),
    [(["ok", "running", "pending"], "build"), (["ok", "ok", "pending"], "verify"), (["ok", "ok", "ok"], "publish")],
)
def test_the_running_stage_is_recorded_as_interrupted(tmp_path: Path, states: list[str], stopped: str) -> None:
    stages = [{"name": n, "status": s} for n, s in zip(("export", "build", "verify"), states, strict=True)]
    layout, staging = _staging(tmp_path, stages)
    record, stage = record_interrupted(layout, staging, "SIGTERM")
    assert record == layout.failed_dir / build_id(1) and stage == f"the {stopped} stage" and not staging.exists()
    assert sorted(p.name for p in record.iterdir()) == [MANIFEST_NAME]
    view = read_manifest(record / MANIFEST_NAME)
    assert view.status == "failed" and view.artifacts == () and view.finished_at
    assert view.error is not None and view.error.stage == stopped
    assert view.error.message == f"{stopped}: interrupted by SIGTERM"
    marked = [s for s in view.stages if s.status == "failed"]
    assert [(s.name, s.error) for s in marked] == ([] if stopped == "publish" else [(stopped, view.error.message)])


def test_a_manifest_that_does_not_read_leaves_no_record(tmp_path: Path) -> None:
    layout, staging = _staging(tmp_path, [{"name": "export", "status": "running"}])
    (staging / MANIFEST_NAME).write_text('{"status": "running", "status": "failed"}')
    assert record_interrupted(layout, staging, "SIGINT") == (None, "the build's set-up")
    assert not staging.exists() and not layout.failed_dir.exists()

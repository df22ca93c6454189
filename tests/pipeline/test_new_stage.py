"""Adding a stage through the documented extension point alone (docs/dev/architecture.md, "Extending → a new stage"):
a stage object defined here, passed to ``run_build`` in a pipeline, recorded in the manifest and published.
No other module is touched; the stand-in export/build/verify/evaluate/benchmark keep the test fast."""

from __future__ import annotations

import subprocess

import pytest

from builder.common.hashing import sha256_file
from builder.errors import StageError
from builder.pipeline import run as pipeline
from builder.pipeline.stage_types import ArtifactOut, StageContext, StageResult
from builder.pipeline.stages import PIPELINE, publish
from builder.record.layout import ArtifactLayout
from builder.record.manifest import load_manifest
from tests.pipeline.test_run import _fake_stages, _settings
from tests.support import make_profile


class LabelsStage:
    """A toy stage: writes ``labels.txt`` (one class name a line) from what the export handed on."""

    NAME = "labels"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def run(self, ctx: StageContext) -> StageResult:
        self.seen = [record.name for record in ctx.manifest.stages if record.status == "ok"] if ctx.manifest else []
        onnx = ctx.prior["export"].artifact("onnx")
        labels = ArtifactOut("labels.txt", "labels")
        ctx.path(labels).write_text("person\ncar\n")
        return StageResult(
            details={"classes": 2, "from": onnx.path},
            artifacts=(labels,),
            inputs={"labels": {"sha256": sha256_file(ctx.path(labels))}},
        )


def test_a_stage_added_through_the_pipeline_argument_is_run_recorded_and_published(tmp_path):
    toy = LabelsStage()
    *stand_ins, last = _fake_stages()
    assert last is publish and [s.NAME for s in (*stand_ins, last)] == [s.NAME for s in PIPELINE]
    outcome = pipeline.run_build(make_profile(), _settings(tmp_path), (*stand_ins, toy, publish))

    assert toy.seen == ["export", "build", "verify", "evaluate", "benchmark"]  # ran after them, with the record so far
    manifest = load_manifest(outcome.build_dir / "manifest.json")
    stages = {s["name"]: s for s in manifest["stages"]}
    assert [s["name"] for s in manifest["stages"]] == [
        "export",
        "build",
        "verify",
        "evaluate",
        "benchmark",
        "labels",
        "publish",
    ]
    assert stages["labels"]["status"] == "ok" and stages["labels"]["details"]["classes"] == 2
    assert stages["labels"]["details"]["artifacts"] == [{"path": "labels.txt", "kind": "labels"}]
    assert {"path": "labels.txt", "kind": "labels"}.items() <= next(
        a for a in manifest["artifacts"] if a["path"] == "labels.txt"
    ).items()
    assert manifest["inputs"]["labels"]["sha256"] == sha256_file(outcome.build_dir / "labels.txt")
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=outcome.build_dir).returncode == 0


def test_a_failing_added_stage_is_the_failed_stage_of_the_record(tmp_path):
    class Broken(LabelsStage):
        def run(self, ctx: StageContext) -> StageResult:
            raise StageError(self.NAME, "no labels file", hint="add one")

    *stand_ins, _ = _fake_stages()
    with pytest.raises(StageError, match="labels: no labels file"):
        pipeline.run_build(make_profile(), _settings(tmp_path), (*stand_ins, Broken(), publish))
    failed = ArtifactLayout(tmp_path / "artifacts", "test-cpu").newest_failed_manifest()
    assert failed is not None and failed.error is not None
    assert failed.error.stage == "labels" and failed.error.hint == "add one"
    assert {s.name: s.status for s in failed.stages} == {
        "export": "ok",
        "build": "ok",
        "verify": "ok",
        "evaluate": "ok",
        "benchmark": "ok",
        "labels": "failed",
        "publish": "pending",
    }

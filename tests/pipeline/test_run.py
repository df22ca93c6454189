"""The pipeline's bookkeeping, with stand-in stages (the real ones run in tests/pipeline/stages and tests/e2e)."""

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from builder.common.hashing import sha256_file
from builder.errors import ExitCode, HostEnvironmentError, VerificationError
from builder.pipeline import run as pipeline
from builder.pipeline.stage_types import ArtifactOut, StageResult
from builder.pipeline.stages import PIPELINE, publish
from builder.record.layout import ArtifactLayout
from builder.record.manifest import load_manifest
from builder.verify.artifact import verify_path
from tests.support import make_profile


def _stage(name, files, seen=None, fail=None):
    def run(ctx):
        if seen is not None:
            seen.append((name, json.loads((ctx.workdir / "manifest.json").read_text())))
        if fail is not None:
            (ctx.workdir / f"{name}.partial").write_text("half")
            raise fail
        outs = []
        for rel, kind in files:
            (ctx.workdir / rel).write_text(f"{name}:{rel}")
            outs.append(ArtifactOut(rel, kind))
        inputs = {}
        for a in outs:
            if a.kind == "onnx":
                inputs["onnx"] = {"path": a.path, "sha256": sha256_file(ctx.path(a))}
        return StageResult(details={"stage": name}, artifacts=tuple(outs), inputs=inputs)

    return SimpleNamespace(NAME=name, run=run)


def _fake_stages(seen=None, fail_at=None, error=None):
    """Stand-ins for every stage but the real publish: a pipeline to pass to run_build."""
    spec = [
        ("export", [("model.onnx", "onnx")]),
        ("build", [("model.ort.onnx", "model"), ("metadata.json", "metadata")]),
        ("verify", []),
        ("evaluate", []),
        ("benchmark", []),
    ]
    return (*(_stage(n, f, seen, error if n == fail_at else None) for n, f in spec), publish)


def _settings(tmp_path, **kw):
    return pipeline.BuildSettings(
        artifacts=tmp_path / "artifacts", models=tmp_path / "models", log=lambda m: None, **kw
    )


def test_manifest_is_written_before_every_stage_and_the_build_is_published(tmp_path, monkeypatch):
    seen = []
    stages = _fake_stages(seen)
    outcome = pipeline.run_build(make_profile(), _settings(tmp_path), stages)
    statuses = {name: {s["name"]: s["status"] for s in m["stages"]} for name, m in seen}
    assert statuses["export"]["export"] == "running" and statuses["export"]["build"] == "pending"
    assert statuses["verify"]["build"] == "ok" and statuses["verify"]["verify"] == "running"
    manifest = load_manifest(outcome.build_dir / "manifest.json")
    assert manifest["status"] == "succeeded"
    assert [(s["name"], s["status"]) for s in manifest["stages"]] == [(stage.NAME, "ok") for stage in PIPELINE]
    assert {a["path"]: a["kind"] for a in manifest["artifacts"]} == {
        "model.onnx": "onnx",
        "model.ort.onnx": "model",
        "metadata.json": "metadata",
    }
    assert manifest["inputs"]["onnx"]["sha256"]
    layout = ArtifactLayout(tmp_path / "artifacts", "test-cpu")
    assert layout.latest_dir() == outcome.build_dir.resolve()
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=outcome.build_dir).returncode == 0
    assert list(layout.staging_root.iterdir()) == []
    report = verify_path(outcome.build_dir, run_inference=False)
    assert report.ok, report.checks


def test_same_key_is_up_to_date_and_force_rebuilds(tmp_path, monkeypatch):
    stages = _fake_stages()
    first = pipeline.run_build(make_profile(), _settings(tmp_path), stages)
    second = pipeline.run_build(make_profile(), _settings(tmp_path), stages)
    assert second.up_to_date and second.build_dir == first.build_dir
    third = pipeline.run_build(make_profile(), _settings(tmp_path, force=True), stages)
    assert not third.up_to_date and third.build_dir != first.build_dir and third.build_key == first.build_key
    changed = pipeline.run_build(make_profile(opset=16), _settings(tmp_path), stages)
    assert not changed.up_to_date and changed.build_key != first.build_key


@pytest.mark.parametrize("stage", ["export", "build", "verify", "evaluate", "benchmark"])
def test_a_failing_stage_publishes_nothing_and_records_the_stage(tmp_path, monkeypatch, stage):
    stages = _fake_stages(fail_at=stage, error=VerificationError("boxes differ"))
    with pytest.raises(VerificationError):
        pipeline.run_build(make_profile(), _settings(tmp_path), stages)
    layout = ArtifactLayout(tmp_path / "artifacts", "test-cpu")
    assert layout.latest_dir() is None and not layout.builds_dir.exists()
    assert list(layout.staging_root.iterdir()) == []
    failed = layout.newest_failed_manifest()
    assert failed is not None and failed.error is not None
    assert failed.status == "failed" and failed.error.stage == stage
    assert {s.name: s.status for s in failed.stages}[stage] == "failed"
    failed_dir = next(layout.failed_dir.iterdir())
    assert [p.name for p in failed_dir.iterdir()] == ["manifest.json"]


def test_unexpected_exception_and_interrupt_are_recorded(tmp_path, monkeypatch):
    stages = _fake_stages(fail_at="build", error=KeyboardInterrupt())
    with pytest.raises(pipeline.Interrupted) as err:
        pipeline.run_build(make_profile(), _settings(tmp_path), stages)
    assert err.value.exit_code == ExitCode.INTERRUPTED
    stages = _fake_stages(fail_at="export", error=OSError(28, "No space left on device", "model.onnx"))
    with pytest.raises(HostEnvironmentError, match="no space left"):
        pipeline.run_build(make_profile(), _settings(tmp_path), stages)


def test_stale_staging_of_a_killed_build_is_removed(tmp_path, monkeypatch):
    layout = ArtifactLayout(tmp_path / "artifacts", "test-cpu")
    stale = layout.staging_dir("20200101T000000Z-deadbeefdead")
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_text("half")
    stages = _fake_stages()
    pipeline.run_build(make_profile(), _settings(tmp_path), stages)
    assert not stale.exists()


def test_unwritable_artifacts_folder_is_a_clear_error(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        target = tmp_path / "file"
        target.write_text("not a folder")
    else:
        target = tmp_path / "ro"
        target.mkdir(mode=0o500)
    stages = _fake_stages()
    with pytest.raises(HostEnvironmentError, match="not writable") as err:
        pipeline.run_build(
            make_profile(), pipeline.BuildSettings(artifacts=target, models=tmp_path, log=lambda m: None), stages
        )
    assert "--artifacts" in err.value.hint


def test_missing_checkpoint_fails_before_any_stage(tmp_path, monkeypatch):
    from builder.errors import ModelError
    from builder.profile import ModelSpec

    stages = _fake_stages()
    with pytest.raises(ModelError, match="not found"):
        pipeline.run_build(make_profile(model=ModelSpec(checkpoint="nope.pt")), _settings(tmp_path), stages)
    assert not (tmp_path / "artifacts" / "test-cpu" / "builds").exists()


def test_a_backend_that_cannot_run_here_fails_before_the_export(tmp_path, monkeypatch):
    from builder.errors import HostEnvironmentError as EnvError
    from builder.pipeline.stages import build as build_stage
    from builder.profile import Backend, Precision

    seen = []
    export, build, *rest = _fake_stages(seen)
    stages = (export, SimpleNamespace(NAME="build", run=build.run, preflight=build_stage.preflight), *rest)

    def unavailable(profile, gpus=None):
        raise EnvError("TensorRT is not installed", hint="use the trt image")

    monkeypatch.setattr(build_stage, "get_backend", lambda name: SimpleNamespace(check_available=unavailable))
    with pytest.raises(EnvError, match="TensorRT is not installed"):
        pipeline.run_build(
            make_profile(backend=Backend.TENSORRT, precision=Precision.FP16), _settings(tmp_path), stages
        )
    assert seen == []  # no stage ran, the export included
    failed = ArtifactLayout(tmp_path / "artifacts", "test-cpu").newest_failed_manifest()
    assert failed is not None and failed.error is not None
    assert failed.error.stage == "build" and failed.error.hint == "use the trt image"


def test_a_bug_in_a_stage_is_recorded_and_raised_unchanged(tmp_path):
    bug = KeyError("names")
    with pytest.raises(KeyError) as err:
        pipeline.run_build(make_profile(), _settings(tmp_path), _fake_stages(fail_at="build", error=bug))
    assert err.value is bug  # not turned into a user error
    layout = ArtifactLayout(tmp_path / "artifacts", "test-cpu")
    failed = layout.newest_failed_manifest()
    assert failed is not None and failed.error is not None
    assert failed.status == "failed" and layout.latest_dir() is None
    assert failed.error.stage == "build" and failed.error.internal is True
    assert failed.error.exception == "KeyError" and failed.error.exit_code == ExitCode.BUG
    record = failed.stage("build")
    assert record is not None and record.status == "failed" and "KeyError" in (record.error or "")


BUGGY_BUILD = """
import sys
from types import SimpleNamespace

from builder.pipeline import run as pipeline
from builder.cli import main
from builder.pipeline.stages import PIPELINE

def export(ctx):
    raise KeyError("names")  # a bug, as a stage's dict lookup would raise it

buggy = (SimpleNamespace(NAME="export", run=export), *PIPELINE[1:])
real_run_build = pipeline.run_build
pipeline.run_build = lambda profile, settings: real_run_build(profile, settings, buggy)
sys.exit(main(sys.argv[1:]))
"""


def test_a_bug_in_a_stage_exits_70_with_a_traceback(tmp_path):
    from tests.support import REPO

    cmd = [
        sys.executable,
        "-c",
        BUGGY_BUILD,
        "build",
        "--profile",
        "cpu-fp32",
        "--profiles-dir",
        str(REPO / "profiles"),
        "--artifacts",
        str(tmp_path / "artifacts"),
        "--models",
        str(tmp_path),
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == ExitCode.BUG == 70, result.stderr
    assert "Traceback (most recent call last)" in result.stderr and "KeyError: 'names'" in result.stderr
    assert "ERROR export" not in result.stderr  # not dressed up as a user error
    failed = ArtifactLayout(tmp_path / "artifacts", "cpu-fp32").newest_failed_manifest()
    assert failed is not None and failed.error is not None
    assert failed.error.internal is True and failed.error.stage == "export"


def test_a_published_build_is_never_also_recorded_as_failed(tmp_path, monkeypatch):
    """publish renamed the build into builds/ and then failed to switch latest: builds/<id> stays, no failed/<id>."""

    def broken_switch(self, build_id):
        raise OSError(5, "Input/output error", str(self.latest_link))

    monkeypatch.setattr(ArtifactLayout, "point_latest_at", broken_switch)
    with pytest.raises(OSError):
        pipeline.run_build(make_profile(), _settings(tmp_path), _fake_stages())
    layout = ArtifactLayout(tmp_path / "artifacts", "test-cpu")
    (published,) = layout.builds_dir.iterdir()
    assert verify_path(published, run_inference=False).ok
    assert not layout.failed_dir.exists() and list(layout.staging_root.iterdir()) == []


def test_an_up_to_date_build_that_moves_latest_back_says_so(tmp_path, monkeypatch):
    """Issue 22 item 5: a build of another key (a farm bare-runner build) holds `latest`; a later build whose key
    has a good build moved `latest` back silently. Now its "up to date" line (shown by make engine) says so."""
    from builder.record.layout import ArtifactLayout

    stages = _fake_stages()
    first = pipeline.run_build(make_profile(), _settings(tmp_path), stages)
    other = pipeline.run_build(make_profile(), _settings(tmp_path, force=True), stages)  # stands in for the farm's
    layout = ArtifactLayout(tmp_path / "artifacts", first.build_dir.parent.parent.name)
    layout.point_latest_at(other.build_dir.name)
    (other.build_dir / "manifest.json").write_text(
        (other.build_dir / "manifest.json").read_text().replace(first.build_key, "f" * 64)
    )
    said: list[str] = []
    settings = pipeline.BuildSettings(artifacts=tmp_path / "artifacts", models=tmp_path / "models", log=said.append)
    again = pipeline.run_build(make_profile(), settings, stages)
    assert again.up_to_date and again.build_dir == first.build_dir
    assert said[-1] == (
        f"up to date: {first.build_dir} (build key {first.build_key[:12]}; latest moved back from "
        f"{other.build_dir.name}, another build key)"
    )

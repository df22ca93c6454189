"""The pipeline's bookkeeping, with stand-in stages (the real ones run in tests/stages and tests/e2e)."""

import json
import os
import signal
import subprocess
from types import SimpleNamespace

import pytest

from builder import pipeline
from builder.errors import ExitCode, HostEnvironmentError, VerificationError
from builder.layout import ArtifactLayout
from builder.manifest import load_manifest
from builder.stage_types import ArtifactOut, StageResult
from builder.verify_artifact import verify_path
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
        return StageResult(details={"stage": name}, artifacts=tuple(outs))

    return SimpleNamespace(NAME=name, run=run)


def _fake_stages(seen=None, fail_at=None, error=None):
    spec = [("export", [("model.onnx", "onnx")]), ("build", [("model.ort.onnx", "model"), ("metadata.json", "metadata")]),
            ("verify", []), ("benchmark", [])]
    return lambda: [_stage(n, f, seen, error if n == fail_at else None) for n, f in spec]


def _settings(tmp_path, **kw):
    return pipeline.BuildSettings(artifacts=tmp_path / "artifacts", models=tmp_path / "models", log=lambda m: None, **kw)


def test_manifest_is_written_before_every_stage_and_the_build_is_published(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages(seen))
    outcome = pipeline.run_build(make_profile(), _settings(tmp_path))
    statuses = {name: {s["name"]: s["status"] for s in m["stages"]} for name, m in seen}
    assert statuses["export"]["export"] == "running" and statuses["export"]["build"] == "pending"
    assert statuses["verify"]["build"] == "ok" and statuses["verify"]["verify"] == "running"
    manifest = load_manifest(outcome.build_dir / "manifest.json")
    assert manifest["status"] == "succeeded"
    assert [s["status"] for s in manifest["stages"]] == ["ok"] * 5
    assert {a["path"]: a["kind"] for a in manifest["artifacts"]} == {"model.onnx": "onnx", "model.ort.onnx": "model", "metadata.json": "metadata"}
    assert manifest["inputs"]["onnx"]["sha256"]
    layout = ArtifactLayout(tmp_path / "artifacts", "test-cpu")
    assert layout.latest_dir() == outcome.build_dir.resolve()
    assert subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=outcome.build_dir).returncode == 0
    assert list(layout.staging_root.iterdir()) == []
    report = verify_path(outcome.build_dir, run_inference=False)
    assert report.ok, report.checks


def test_same_key_is_up_to_date_and_force_rebuilds(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages())
    first = pipeline.run_build(make_profile(), _settings(tmp_path))
    second = pipeline.run_build(make_profile(), _settings(tmp_path))
    assert second.up_to_date and second.build_dir == first.build_dir
    third = pipeline.run_build(make_profile(), _settings(tmp_path, force=True))
    assert not third.up_to_date and third.build_dir != first.build_dir and third.build_key == first.build_key
    changed = pipeline.run_build(make_profile(opset=16), _settings(tmp_path))
    assert not changed.up_to_date and changed.build_key != first.build_key


@pytest.mark.parametrize("stage", ["export", "build", "verify", "benchmark"])
def test_a_failing_stage_publishes_nothing_and_records_the_stage(tmp_path, monkeypatch, stage):
    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages(fail_at=stage, error=VerificationError("boxes differ")))
    with pytest.raises(VerificationError):
        pipeline.run_build(make_profile(), _settings(tmp_path))
    layout = ArtifactLayout(tmp_path / "artifacts", "test-cpu")
    assert layout.latest_dir() is None and not layout.builds_dir.exists()
    assert list(layout.staging_root.iterdir()) == []
    failed = layout.newest_failed_manifest()
    assert failed["status"] == "failed" and failed["error"]["stage"] == stage
    assert {s["name"]: s["status"] for s in failed["stages"]}[stage] == "failed"
    failed_dir = next(layout.failed_dir.iterdir())
    assert [p.name for p in failed_dir.iterdir()] == ["manifest.json"]


def test_unexpected_exception_and_interrupt_are_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages(fail_at="build", error=KeyboardInterrupt()))
    with pytest.raises(pipeline.Interrupted) as err:
        pipeline.run_build(make_profile(), _settings(tmp_path))
    assert err.value.exit_code == ExitCode.INTERRUPTED
    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages(fail_at="export", error=OSError(28, "No space left on device", "model.onnx")))
    with pytest.raises(HostEnvironmentError, match="no space left"):
        pipeline.run_build(make_profile(), _settings(tmp_path))


def test_stale_staging_of_a_killed_build_is_removed(tmp_path, monkeypatch):
    layout = ArtifactLayout(tmp_path / "artifacts", "test-cpu")
    stale = layout.staging_dir("20200101T000000Z-deadbeefdead")
    stale.mkdir(parents=True)
    (stale / "model.onnx").write_text("half")
    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages())
    pipeline.run_build(make_profile(), _settings(tmp_path))
    assert not stale.exists()


def test_unwritable_artifacts_folder_is_a_clear_error(tmp_path, monkeypatch):
    if os.geteuid() == 0:
        target = tmp_path / "file"
        target.write_text("not a folder")
    else:
        target = tmp_path / "ro"
        target.mkdir(mode=0o500)
    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages())
    with pytest.raises(HostEnvironmentError, match="not writable") as err:
        pipeline.run_build(make_profile(), pipeline.BuildSettings(artifacts=target, models=tmp_path, log=lambda m: None))
    assert "--artifacts" in err.value.hint


def test_missing_checkpoint_fails_before_any_stage(tmp_path, monkeypatch):
    from builder.errors import ModelError
    from builder.profile import ModelSpec

    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages())
    with pytest.raises(ModelError, match="not found"):
        pipeline.run_build(make_profile(model=ModelSpec(checkpoint="nope.pt")), _settings(tmp_path))
    assert not (tmp_path / "artifacts" / "test-cpu" / "builds").exists()


def test_sigterm_is_turned_into_an_interrupted_build(tmp_path, monkeypatch):
    def kill_self(ctx):
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not interrupt")

    stages = _fake_stages()
    monkeypatch.setattr(pipeline, "_stage_modules", lambda: [stages()[0], SimpleNamespace(NAME="build", run=kill_self)])
    with pytest.raises(pipeline.Interrupted):
        pipeline.run_build(make_profile(), _settings(tmp_path))
    assert ArtifactLayout(tmp_path / "artifacts", "test-cpu").newest_failed_manifest()["error"]["stage"] == "build"


def test_a_backend_that_cannot_run_here_fails_before_the_export(tmp_path, monkeypatch):
    from builder.errors import HostEnvironmentError as EnvError
    from builder.profile import Backend, Precision

    seen = []
    monkeypatch.setattr(pipeline, "_stage_modules", _fake_stages(seen))
    import builder.backends.registry as registry

    def unavailable(profile):
        raise EnvError("TensorRT is not installed", hint="use the trt image")

    monkeypatch.setattr(registry, "get_backend", lambda name: SimpleNamespace(check_available=unavailable))
    with pytest.raises(EnvError, match="TensorRT is not installed"):
        pipeline.run_build(make_profile(backend=Backend.TENSORRT, precision=Precision.FP16), _settings(tmp_path))
    assert seen == []  # no stage ran, the export included
    failed = ArtifactLayout(tmp_path / "artifacts", "test-cpu").newest_failed_manifest()
    assert failed["error"]["stage"] == "build" and failed["error"]["hint"] == "use the trt image"

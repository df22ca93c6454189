"""The nightly's runners and image step, with the host side faked at its module boundary (no Docker)."""

from __future__ import annotations

from datetime import datetime, timezone

import builder.host.docker_engine as host_engine
import builder.host.image as host_image
import builder.host.launch as host_launch
from builder.errors import ModelError
from builder.host.docker_engine import ImageInfo
from builder.ops.nightly import BuildAttempt, NightlyOptions, run_nightly
from builder.ops.runners import bare_runner, docker_runner, image_rebuild_step
from builder.profile import load_profile
from tests.ops.fakes import synthetic_manifest, write_build, write_failed


class _NoDocker:
    """Stands in for DockerEngine: the fake launcher never uses it."""


def test_docker_runner_returns_the_published_build(tmp_path, profiles_dir, monkeypatch):
    calls = []

    def fake_launch(ref, settings, engine, sink):
        calls.append((ref, settings.force, settings.artifacts_dir.is_absolute(), type(engine)))
        write_build(tmp_path / "artifacts", synthetic_manifest("tiny-cpu", n=len(calls)))
        return 0

    monkeypatch.setattr(host_launch, "launch", fake_launch)
    monkeypatch.setattr(host_engine, "DockerEngine", _NoDocker)
    run = docker_runner(
        profiles_dir, tmp_path / "artifacts", tmp_path / "models", tmp_path / "cache", log=lambda line: None
    )
    attempt = run("tiny-cpu")
    assert attempt.error is None and attempt.build_dir.name == synthetic_manifest(n=1)["build_id"]
    assert calls == [("tiny-cpu", True, True, _NoDocker)]


def test_docker_runner_is_quiet_and_keeps_each_builds_full_log(tmp_path, profiles_dir, monkeypatch):
    """Issue 9: a stage's result line and the outcome on the terminal, the Polygraphy dump in the build's log file."""
    noisy = ["[export] started", "[I] Accuracy Comparison | reference vs artifact", "[export] ok in 3.1s", "BUILT x"]

    builds = []

    def fake_launch(ref, settings, engine, sink):
        for line in noisy:
            sink(line)
        builds.append(ref)
        write_build(tmp_path / "artifacts", synthetic_manifest("tiny-cpu", n=len(builds)))
        return 0

    monkeypatch.setattr(host_launch, "launch", fake_launch)
    monkeypatch.setattr(host_engine, "DockerEngine", _NoDocker)
    for verbose in (False, True):
        shown: list[str] = []
        run = docker_runner(
            profiles_dir, tmp_path / "artifacts", tmp_path / "m", tmp_path / "c", log=shown.append, verbose=verbose
        )
        assert run("tiny-cpu").error is None
        logs = sorted((tmp_path / "artifacts" / "tiny-cpu" / "logs").glob("*.log"))
        assert logs and logs[-1].read_text().splitlines()[-4:] == noisy
        if verbose:
            assert shown == noisy
        else:
            assert shown[:2] == ["[export] ok in 3.1s", "BUILT x"] and shown[2].startswith("full log: ")


def test_docker_runner_reports_the_failed_manifests_error(tmp_path, profiles_dir, monkeypatch):
    def failing_launch(ref, settings, engine, sink):
        write_failed(tmp_path / "artifacts", "tiny-cpu", 3)
        return 4

    monkeypatch.setattr(host_launch, "launch", failing_launch)
    monkeypatch.setattr(host_engine, "DockerEngine", _NoDocker)
    attempt = docker_runner(
        profiles_dir, tmp_path / "artifacts", tmp_path / "m", tmp_path / "c", log=lambda line: None
    )("tiny-cpu")
    assert attempt.build_dir is None and attempt.error == "output0 exceeds atol"
    assert attempt.failed_dir is not None and attempt.failed_dir.parent.name == "failed"


def test_image_step_rebuilds_each_needed_flavour_without_cache(profiles_dir, monkeypatch):
    calls = []

    def fake_rebuild(flavour, *, no_cache, log):
        calls.append((flavour, no_cache))
        return ImageInfo(
            id=f"sha256:{flavour}", ref=f"engine-foundry:{flavour}", labels={"engine-foundry.base.ref": "base@sha256:1"}
        )

    monkeypatch.setattr(host_image, "rebuild_image", fake_rebuild)
    profiles = [load_profile(name, profiles_dir) for name in ("tiny-cpu", "cpu-fp32", "a10-fp16")]
    result = image_rebuild_step(log=lambda line: None)(profiles)
    assert calls == [("cpu", True), ("trt", True)]
    assert result["message"] == "rebuilt from scratch: cpu sha256:cpu, trt sha256:trt"
    assert result["images"]["trt"]["labels"] == {"engine-foundry.base.ref": "base@sha256:1"}


def test_bare_runner_turns_errors_into_attempts(tmp_path, profiles_dir, monkeypatch):
    run = bare_runner(profiles_dir, tmp_path / "a", tmp_path / "m", None, log=lambda line: None)
    assert "no-such-profile.yaml: no such profile file" in run("no-such-profile").error  # reported, not raised

    def missing_weights(profile, settings):
        assert settings.force and settings.wait
        raise ModelError("checkpoint 'x.pt' not found in models folder m")

    monkeypatch.setattr("builder.pipeline.run.run_build", missing_weights)
    attempt = run("tiny-cpu")
    assert (attempt.profile, attempt.build_dir, attempt.error) == (
        "tiny-cpu",
        None,
        "checkpoint 'x.pt' not found in models folder m",
    )


def test_a_runner_that_returns_the_previous_build_fails_the_night(tmp_path, profiles_dir):
    previous = write_build(tmp_path / "a", synthetic_manifest("tiny-cpu", n=1))
    options = NightlyOptions(
        profiles_dir=profiles_dir, artifacts=tmp_path / "a", reports=tmp_path / "r", profiles=("tiny-cpu",)
    )
    result = run_nightly(
        options,
        lambda ref: BuildAttempt(ref, previous),
        log=lambda line: None,
        now=datetime(2025, 1, 2, tzinfo=timezone.utc),
    )
    assert result.failures == ["tiny-cpu: failed: no new build was published (the runner returned the previous build)"]

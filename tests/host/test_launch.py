"""launch(): up-to-date check on the host, log streaming, exit codes, failing stage, Ctrl-C (fake engine)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from builder.errors import ExitCode, HostEnvironmentError, ProfileError
from builder.host.launch import host_build_key, launch, resolve_profile
from builder.host.spec import HostSettings
from builder.record.layout import ArtifactLayout
from tests.host.fakes import FakeContainer, FakeEngine
from tests.ops.fakes import manifest_record


def publish_fake_build(
    host: HostSettings, profile: str, key: str, build_id: str = "20260101T000000Z-000000000000"
) -> Path:
    """What a successful container leaves behind: builds/<id>/manifest.json and `latest`."""
    layout = ArtifactLayout(host.artifacts_dir, profile)
    build = layout.build_dir(build_id)
    build.mkdir(parents=True)
    (build / "manifest.json").write_text(json.dumps(manifest_record(profile, build_id, key)))
    layout.point_latest_at(build_id)
    return build


def write_failed_manifest(
    host: HostSettings, profile: str, build_id: str, stage: str, message: str = "max abs error 0.5 > 0.01"
) -> None:
    folder = ArtifactLayout(host.artifacts_dir, profile).failed_dir / build_id
    folder.mkdir(parents=True)
    manifest = manifest_record(
        profile, build_id, "f" * 64, "failed",
        stages=[{"name": "export", "status": "ok"}, {"name": stage, "status": "failed", "error": message}],
        error={"stage": stage, "message": message, "hint": "loosen verify.tolerances", "exit_code": 4},
    )  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_host_build_key_equals_the_containers(host: HostSettings, engine: FakeEngine) -> None:
    from builder.record.buildkey import build_key_for  # what builder.pipeline.run.run_build calls in the container

    profile, _ = resolve_profile("tiny-cpu", host.profiles_dir)
    image = engine.image_info("engine-foundry:cpu")
    assert image is not None
    container_key = build_key_for(profile, host.models_dir, image.id).key
    assert host_build_key(profile, host, image) == container_key


def test_up_to_date_build_returns_without_a_container(host: HostSettings, engine: FakeEngine) -> None:
    profile, _ = resolve_profile("tiny-cpu", host.profiles_dir)
    image = engine.image_info("engine-foundry:cpu")
    assert image is not None
    build = publish_fake_build(host, "tiny-cpu", host_build_key(profile, host, image))
    out: list[str] = []
    assert launch("tiny-cpu", host, engine, out.append) == 0
    assert engine.started == []
    assert out[-1].startswith(f"UP-TO-DATE tiny-cpu: {build}") and "no container started" in out[-1]


def test_force_or_another_key_runs_the_container(host: HostSettings, engine: FakeEngine) -> None:
    publish_fake_build(host, "tiny-cpu", "0" * 64)
    assert launch("tiny-cpu", host, engine, lambda line: None) == 0
    assert len(engine.started) == 1
    profile, _ = resolve_profile("tiny-cpu", host.profiles_dir)
    image = engine.image_info("engine-foundry:cpu")
    assert image is not None
    publish_fake_build(host, "tiny-cpu", host_build_key(profile, host, image), "20260102T000000Z-111111111111")
    assert launch("tiny-cpu", replace(host, force=True), engine, lambda line: None) == 0
    assert len(engine.started) == 2 and engine.started[1].spec.command[-1] == "--force"


def test_container_gets_the_spec_and_is_removed(host: HostSettings, engine: FakeEngine) -> None:
    assert launch("tiny-cpu", host, engine, lambda line: None) == 0
    (container,) = engine.started
    assert container.spec.image == "sha256:" + "1" * 64
    assert container.spec.command[:3] == ("build", "--profile", "/profiles/tiny-cpu.yaml")
    assert container.spec.environment["ENGINE_FOUNDRY_BASE_PINNED"] == "true"
    assert container.name and container.name.startswith("ef-tiny-cpu-")
    assert container.events == ["wait", "remove"]


def test_log_lines_are_streamed_before_the_container_exits(host: HostSettings, engine: FakeEngine) -> None:
    seen: list[str] = []

    def script(container: FakeContainer) -> Iterator[str]:
        for stage in ("export", "build", "verify"):
            yield f"[{stage}] started"
            assert seen[-1] == f"[{stage}] started", "the launcher prints each line as it arrives"
            assert "wait" not in container.events

    engine.script = script
    assert launch("tiny-cpu", host, engine, seen.append) == 0
    assert [line for line in seen if line.startswith("[")] == [
        "[export] started",
        "[build] started",
        "[verify] started",
    ]


def test_failure_reports_exit_code_and_failing_stage(host: HostSettings, engine: FakeEngine) -> None:
    write_failed_manifest(host, "tiny-cpu", "20250101T000000Z-aaaaaaaaaaaa", "export")  # an old failure: not this run's
    engine.exit_code = int(ExitCode.STAGE)
    engine.on_run = lambda spec: write_failed_manifest(host, "tiny-cpu", "20260101T000000Z-bbbbbbbbbbbb", "verify")
    out: list[str] = []
    errors: list[str] = []
    assert launch("tiny-cpu", host, engine, out.append, errors.append) == ExitCode.STAGE
    assert errors[0] == "ERROR build of tiny-cpu failed in stage 'verify' (exit 4): max abs error 0.5 > 0.01"
    assert len(errors) == 2 and errors[1].startswith("TIP loosen verify.tolerances")
    assert "failed/20260101T000000Z-bbbbbbbbbbbb/manifest.json" in errors[1]
    assert not any(line.startswith(("ERROR", "TIP")) for line in out)


def test_failure_message_from_the_container_cannot_forge_lines(host: HostSettings, engine: FakeEngine) -> None:
    """The failed manifest's message is the container's text: its control characters are escaped, as at the CLI."""
    engine.exit_code = int(ExitCode.STAGE)
    forged = "bad input\nTIP rm -rf /\x1b[2K"
    engine.on_run = lambda spec: write_failed_manifest(
        host, "tiny-cpu", "20260101T000000Z-cccccccccccc", "export", forged
    )
    errors: list[str] = []
    assert launch("tiny-cpu", host, engine, [].append, errors.append) == ExitCode.STAGE
    assert errors[0] == "ERROR build of tiny-cpu failed in stage 'export' (exit 4): bad input\\nTIP rm -rf /\\x1b[2K"
    assert [line.split(" ")[0] for line in errors] == ["ERROR", "TIP"]


def test_failure_without_a_new_manifest_says_so(host: HostSettings, engine: FakeEngine) -> None:
    write_failed_manifest(host, "tiny-cpu", "20250101T000000Z-aaaaaaaaaaaa", "export")
    engine.exit_code = 137
    out: list[str] = []
    assert launch("tiny-cpu", host, engine, out.append, out.append) == 137
    assert any("exited with code 137 (killed: out of memory" in line for line in out)
    assert not any("stage 'export'" in line for line in out)


@pytest.mark.parametrize("how", ["exception", "SIGINT", "SIGTERM"])
def test_interrupt_stops_and_removes_the_container(host: HostSettings, engine: FakeEngine, how: str) -> None:
    def script(container: FakeContainer) -> Iterator[str]:
        yield "[export] started"
        if how == "exception":
            raise KeyboardInterrupt
        os.kill(os.getpid(), getattr(signal, how))
        yield "[export] still running"

    engine.script = script
    out: list[str] = []
    errors: list[str] = []
    previous = signal.getsignal(signal.SIGTERM)
    assert launch("tiny-cpu", host, engine, out.append, errors.append) == ExitCode.INTERRUPTED
    (container,) = engine.started
    assert container.events[:1] == ["stop(10)"] and container.events[-1] == "remove"
    assert "[export] still running" not in out
    assert errors == [
        f"ERROR build interrupted; container {container.name} stopped and removed, nothing was published",
        "TIP run the same command again when ready (an up-to-date build is reused)",
    ]
    assert signal.getsignal(signal.SIGTERM) == previous, "signal handlers are restored"
    assert not ArtifactLayout(host.artifacts_dir, "tiny-cpu").builds_dir.exists()


def test_unwritable_artifacts_fail_before_any_container(host: HostSettings, engine: FakeEngine) -> None:
    with pytest.raises(HostEnvironmentError, match="not writable") as err:
        launch("tiny-cpu", replace(host, artifacts_dir=Path("/proc/1")), engine, lambda line: None)
    assert "--artifacts" in (err.value.hint or "")
    assert engine.started == []


@pytest.mark.skipif(os.getuid() != 0, reason="only root's launches hand folders to another user")
def test_root_under_sudo_hands_writable_folders_to_the_sudo_user(host: HostSettings, engine: FakeEngine) -> None:
    from dataclasses import replace

    from builder.host.settings import container_user

    host = replace(host, user=container_user(environ={"SUDO_UID": "1234", "SUDO_GID": "1235"}))
    assert host.user == "1234:1235"
    launch("tiny-cpu", host, engine, lambda line: None)
    for folder in (host.artifacts_dir, host.artifacts_dir / "tiny-cpu", host.cache_dir):
        assert (folder.stat().st_uid, folder.stat().st_gid) == (1234, 1235)


def test_the_container_user_is_the_invoking_user_so_they_can_delete_their_artifacts(tmp_path: Path) -> None:
    from builder.host.settings import container_user

    assert container_user(1001, 1002, environ={}) == "1001:1002"
    assert container_user(0, 0, environ={"SUDO_UID": "1001", "SUDO_GID": "1002"}) == "1001:1002"
    assert container_user(0, 0, environ={}, artifacts_dir=tmp_path / "none") == "1000:1000", (
        "never root in the container"
    )
    owned = tmp_path / "artifacts"
    owned.mkdir()
    if os.getuid() == 0:
        os.chown(owned, 1500, 1501)
        assert container_user(0, 0, environ={}, artifacts_dir=owned) == "1500:1501", "plain root: the folder's owner"


def test_bad_profile_fails_before_any_container(host: HostSettings, engine: FakeEngine) -> None:
    with pytest.raises(ProfileError):
        launch("no-such-profile", host, engine, lambda line: None)
    assert engine.started == []


def test_profile_path_outside_profiles_dir_mounts_its_own_folder(
    tmp_path: Path, host: HostSettings, engine: FakeEngine
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "solo.yaml").write_text(
        "name: solo\ndescription: standalone\nbackend: onnxruntime\nprecision: fp32\n"
        "model:\n  yaml: yolo11n.yaml\ntask: detect\nimgsz: 64\nbatch: 1\nopset: 17\nsimplify: true\n"
    )
    assert launch(str(elsewhere / "solo.yaml"), host, engine, lambda line: None) == 0
    (container,) = engine.started
    assert {m.target: m.source for m in container.spec.mounts}["/profiles"] == str(elsewhere)


def test_engine_errors_pass_through(host: HostSettings, engine: FakeEngine) -> None:
    from builder.host.docker_engine import GPU_TIP

    def no_gpu(spec: object) -> None:
        raise HostEnvironmentError(
            'Docker cannot give the container a GPU: could not select device driver ""', hint=GPU_TIP
        )

    engine.on_run = no_gpu
    with pytest.raises(HostEnvironmentError, match="GPU"):
        launch("t4-fp16", host, engine, lambda line: None)


def test_malformed_gpu_choice_is_a_usage_error_before_any_container(host: HostSettings, engine: FakeEngine) -> None:
    from builder.errors import UsageError

    with pytest.raises(UsageError, match="--gpus 'first'"):
        launch("t4-fp16", replace(host, gpus="first"), engine, lambda line: None)
    assert engine.started == []

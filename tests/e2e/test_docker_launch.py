"""The launcher against the real Docker engine: a cpu build end to end, hardening, up-to-date, no GPU, Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from builder.errors import HostEnvironmentError
from builder.host.docker_engine import GPU_TIP, DockerContainer, DockerEngine, ImageInfo
from builder.host.launch import host_build_key, launch, resolve_profile
from builder.host.settings import host_settings
from builder.host.spec import ContainerSpec, HostSettings
from builder.record.layout import ArtifactLayout
from tests.e2e.conftest import TEST_IMAGE
from tests.support import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@dataclass
class SpyEngine:
    """The real engine, plus what each started container looked like while it ran."""

    engine: DockerEngine
    inspected: list[dict[str, Any]] = field(default_factory=list)
    process_uids: list[int] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def run(self, spec: ContainerSpec, name: str | None = None) -> DockerContainer:
        container = self.engine.run(spec, name=name)
        attrs = container.inspect()
        self.inspected.append(attrs)
        pid = attrs["State"]["Pid"]
        if pid:
            status = Path(f"/proc/{pid}/status").read_text()
            self.process_uids.append(
                int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
            )
        return container


def settings_for(workspace: Path, **extra: Any) -> HostSettings:
    return host_settings(
        workspace / "profiles",
        workspace / "models",
        workspace / "artifacts",
        workspace / "cache",
        image=TEST_IMAGE,
        **extra,
    )


@pytest.fixture(scope="module")
def first_build(docker_engine: DockerEngine, cpu_image: ImageInfo, workspace: Path) -> dict[str, Any]:
    spy = SpyEngine(docker_engine)
    lines: list[str] = []
    started = time.monotonic()
    code = launch("e2e-cpu", settings_for(workspace), spy, lines.append)
    return {"code": code, "lines": lines, "spy": spy, "seconds": time.monotonic() - started}


def test_cpu_profile_builds_in_the_container(
    first_build: dict[str, Any], workspace: Path, cpu_image: ImageInfo
) -> None:
    assert first_build["code"] == 0, "\n".join(first_build["lines"][-40:])
    lines = first_build["lines"]
    published = f"published {workspace / 'artifacts'}/e2e-cpu/builds/"  # host paths, not the container's /artifacts
    assert "[export] started" in lines and any(line.startswith(published) for line in lines)
    layout = ArtifactLayout(workspace / "artifacts", "e2e-cpu")
    latest = layout.latest_dir()
    assert latest is not None
    manifest = json.loads((latest / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert manifest["environment"]["image"]["id"] == cpu_image.id
    assert manifest["environment"]["image"]["base"] == cpu_image.labels["engine-foundry.base.ref"]
    profile, _ = resolve_profile("e2e-cpu", workspace / "profiles")
    assert manifest["build_key"] == host_build_key(profile, replace(settings_for(workspace)), cpu_image), (
        "host and container agree on the key"
    )
    check = subprocess.run(
        ["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=latest, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert {a["kind"] for a in manifest["artifacts"]} >= {"onnx"}


def test_the_container_was_hardened(first_build: dict[str, Any]) -> None:
    (attrs,) = first_build["spy"].inspected
    host = attrs["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert host["Tmpfs"] == {"/tmp": "size=2g"}
    assert {m["Destination"]: m["RW"] for m in attrs["Mounts"]} == {
        "/profiles": False,
        "/models": False,
        "/artifacts": True,
        "/cache": True,
    }
    user = attrs["Config"]["User"]
    assert user and not user.startswith("0:") and user != "root"
    assert all(uid != 0 for uid in first_build["spy"].process_uids)


def test_the_container_is_removed_and_artifacts_belong_to_its_user(
    first_build: dict[str, Any], docker_engine: DockerEngine, workspace: Path
) -> None:
    assert docker_engine.containers_labelled({"engine-foundry.profile": "e2e-cpu"}) == []
    uid = int(first_build["spy"].inspected[0]["Config"]["User"].split(":")[0])
    latest = ArtifactLayout(workspace / "artifacts", "e2e-cpu").latest_dir()
    assert latest is not None and all(path.stat().st_uid == uid for path in latest.iterdir())


def test_second_run_is_up_to_date_without_a_container(
    first_build: dict[str, Any], docker_engine: DockerEngine, workspace: Path
) -> None:
    spy = SpyEngine(docker_engine)
    lines: list[str] = []
    assert launch("e2e-cpu", settings_for(workspace), spy, lines.append) == 0
    assert spy.inspected == [], "no container was started"
    assert lines[-1].startswith("UP-TO-DATE e2e-cpu: ")


def test_tensorrt_profile_without_a_gpu_runtime_is_a_clear_error(
    docker_engine: DockerEngine, cpu_image: ImageInfo, workspace: Path
) -> None:
    info = subprocess.run(["docker", "info", "--format", "{{json .Runtimes}}"], capture_output=True, text=True).stdout
    if "nvidia" in info:
        pytest.skip("this Docker engine has the NVIDIA runtime: a GPU request would succeed")
    with pytest.raises(HostEnvironmentError) as err:
        launch("t4-fp16", settings_for(workspace), docker_engine, lambda line: None)
    assert "Docker cannot give the container a GPU: could not select device driver" in err.value.message
    assert err.value.hint == GPU_TIP
    assert (
        docker_engine.containers_labelled({"engine-foundry.profile": "t4-fp16", "engine-foundry.managed": "true"}) == []
    )
    result = subprocess.run(
        [sys.executable, "-m", "builder", "engine", "--profile", "t4-fp16", "--image", TEST_IMAGE, *_paths(workspace)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 3  # `engine` asks "can this host build it?" before any image or container work
    assert result.stderr.splitlines()[-2].startswith("ERROR cannot build t4-fp16 on this host: the tensorrt backend")
    assert "NVIDIA GPU" in result.stderr.splitlines()[-2]
    assert result.stderr.splitlines()[-1].startswith("TIP ")


def test_ctrl_c_stops_the_build_and_publishes_nothing(
    first_build: dict[str, Any], docker_engine: DockerEngine, workspace: Path
) -> None:
    layout = ArtifactLayout(workspace / "artifacts", "e2e-cpu")
    builds_before = sorted(p.name for p in layout.builds_dir.iterdir())
    latest_before = layout.latest_dir()
    launcher = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "builder",
            "engine",
            "--profile",
            "e2e-cpu",
            "--force",
            "-v",  # the whole log live, so the export's start is seen
            "--image",
            TEST_IMAGE,
            *_paths(workspace),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen = []
    assert launcher.stdout is not None
    for line in launcher.stdout:
        seen.append(line.rstrip())
        if line.startswith("[export] started"):
            launcher.send_signal(signal.SIGINT)
            break
    else:
        pytest.fail("the build never reached the export stage:\n" + "\n".join(seen[-30:]))
    rest = launcher.communicate(timeout=120)[0]
    assert launcher.returncode == 130, rest
    assert "stopped and removed" in rest
    assert sorted(p.name for p in layout.builds_dir.iterdir()) == builds_before, "nothing was published"
    assert layout.latest_dir() == latest_before
    assert docker_engine.containers_labelled({"engine-foundry.profile": "e2e-cpu"}) == []


def _paths(workspace: Path) -> list[str]:
    return ["--profiles-dir", str(workspace / "profiles"), "--artifacts", str(workspace / "artifacts"),
            "--models", str(workspace / "models"), "--cache-dir", str(workspace / "cache")]  # fmt: skip

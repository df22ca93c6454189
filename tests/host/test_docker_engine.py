"""Docker failures become one ERROR line with a TIP (translate_docker_error), with real SDK exceptions and sockets."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import docker.errors
import pytest
import requests

from builder.errors import ExitCode, HostEnvironmentError
from builder.host.docker_engine import DockerEngine, image_hint, translate_docker_error
from tests.support import REPO

GPU_REFUSAL = 'could not select device driver "" with capabilities: [[gpu]]'


def test_gpu_request_refused_points_at_the_container_toolkit() -> None:
    response = requests.Response()
    response.status_code = 500
    err = translate_docker_error(docker.errors.APIError("500 Server Error", response, explanation=GPU_REFUSAL))
    assert err.message == f"Docker cannot give the container a GPU: {GPU_REFUSAL}"
    assert "NVIDIA Container Toolkit" in (err.hint or "") and "nvidia-ctk runtime configure" in (err.hint or "")
    assert err.exit_code == ExitCode.ENVIRONMENT


def test_no_daemon() -> None:
    exc = docker.errors.DockerException(
        "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or directory'))"
    )
    err = translate_docker_error(exc)
    assert err.message.startswith("no Docker engine answers at")
    assert "systemctl start docker" in (err.hint or "")


def test_permission_denied_on_the_socket() -> None:
    exc = docker.errors.DockerException(
        "Error while fetching server API version: ('Connection aborted.', PermissionError(13, 'Permission denied'))"
    )
    err = translate_docker_error(exc)
    assert "permission denied on the Docker socket" in err.message
    assert "usermod -aG docker" in (err.hint or "")


def test_missing_image_names_the_make_command() -> None:
    err = translate_docker_error(
        docker.errors.ImageNotFound("No such image: engine-foundry:trt"), image="engine-foundry:trt"
    )
    assert err.message == "Docker image engine-foundry:trt is not present"
    assert "`make image FLAVOUR=trt`" in (err.hint or "")
    assert image_hint("sha256:abc", "cpu").startswith("build it: `make image FLAVOUR=cpu`")


def test_anything_else_is_still_a_host_error_with_a_tip() -> None:
    err = translate_docker_error(docker.errors.APIError("409 Conflict", explanation="name already in use"))
    assert err.message == "Docker failed: name already in use" and err.hint


def test_real_sdk_without_a_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-such.sock")
    with pytest.raises(HostEnvironmentError, match="no Docker engine answers at unix://") as err:
        DockerEngine()
    assert err.value.hint and "DOCKER_HOST" in err.value.hint


@pytest.mark.docker
def test_real_permission_denied_for_a_user_outside_the_docker_group() -> None:
    python = shutil.which("python3", path="/usr/bin")
    socket = Path("/var/run/docker.sock")
    if os.getuid() != 0 or python is None or not socket.is_socket():
        pytest.skip("needs root (to run a child as nobody), /usr/bin/python3 and the local Docker socket")
    probe = subprocess.run([python, "-c", "import docker"], user=65534, capture_output=True)
    if probe.returncode != 0 or os.stat(socket).st_mode & 0o006:
        pytest.skip("/usr/bin/python3 has no docker SDK, or the socket is open to everyone")
    code = (
        "from builder.host.docker_engine import DockerEngine\n"
        "from builder.errors import HostEnvironmentError\n"
        "try:\n    DockerEngine()\nexcept HostEnvironmentError as e:\n    print(e.message); print(e.hint)\n"
    )
    result = subprocess.run(
        [python, "-c", code], user=65534, cwd=REPO, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
    )
    assert "permission denied on the Docker socket" in result.stdout, result.stderr

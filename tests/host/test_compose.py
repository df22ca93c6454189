"""docker-compose.yml (for humans) and container_spec (for the launcher) describe the same container."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from builder.host.spec import ContainerSpec, GpuRequest, HostSettings, container_command, container_spec
from tests.support import REPO

COMPOSE = REPO / "docker-compose.yml"
DEFAULTS = HostSettings(Path("/p"), Path("/m"), Path("/a"), Path("/c"), user="1000:1000")


def services() -> dict[str, Any]:
    """The services with every ``${VAR:-default}`` replaced by its default, as Compose does with VAR unset."""
    text = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", COMPOSE.read_text())
    return yaml.safe_load(text)["services"]


def _hardening(service: dict[str, Any]) -> dict[str, Any]:
    return {
        "network_mode": service["network_mode"],
        "read_only": service["read_only"],
        "init": service["init"],
        "cap_drop": service["cap_drop"],
        "security_opt": service["security_opt"],
        "tmpfs": service["tmpfs"],
    }


def _spec_hardening(spec: ContainerSpec) -> dict[str, Any]:
    return {
        "network_mode": spec.network_mode,
        "read_only": spec.read_only,
        "init": spec.init,
        "cap_drop": list(spec.cap_drop),
        "security_opt": list(spec.security_opt),
        "tmpfs": [f"{path}:{options}" for path, options in spec.tmpfs.items()],
    }


@pytest.mark.parametrize(
    ("service", "profile", "backend"),
    [("builder", "a10-fp16", "tensorrt"), ("builder-cpu", "cpu-fp32-shapes", "onnxruntime")],
)
def test_compose_service_agrees_with_container_spec(service: str, profile: str, backend: str) -> None:
    compose = services()[service]
    spec = container_spec(profile, backend, DEFAULTS)
    assert _hardening(compose) == _spec_hardening(spec)
    assert {v["target"]: bool(v.get("read_only", False)) for v in compose["volumes"]} == {
        m.target: m.read_only for m in spec.mounts
    }
    assert compose["environment"] == {k: v for k, v in spec.environment.items() if k != "ENGINE_FOUNDRY_IMAGE_REF"}
    assert compose["command"] == list(container_command(profile, DEFAULTS)), (
        "compose runs the launcher's command (less --image-id)"
    )
    assert compose["image"] == spec.environment["ENGINE_FOUNDRY_IMAGE_REF"]
    assert compose["user"].count(":") == 1 and compose["build"]["args"]["FLAVOUR"] == (
        "trt" if backend == "tensorrt" else "cpu"
    )
    devices = compose.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    expected = [
        {"driver": r.driver, "count": "all" if r.count == -1 else r.count, "capabilities": list(r.capabilities)}
        for r in spec.device_requests
    ]
    assert devices == expected


def test_gpu_reservation_is_every_gpu_like_the_launcher_default() -> None:
    assert container_spec("a10-fp16", "tensorrt", DEFAULTS).device_requests == (GpuRequest(count=-1),)
    assert "deploy" not in services()["builder-cpu"]


def _compose_installed(command: tuple[str, ...]) -> bool:
    if shutil.which(command[0]) is None:
        return False
    return subprocess.run([*command, "version"], capture_output=True, timeout=60).returncode == 0


COMPOSE_SPELLINGS = [("docker", "compose"), ("docker-compose",)]  # Compose v2 (Docker's plugin), v1 (Debian's package)


def test_at_least_one_compose_spelling_is_installed_under_ci() -> None:
    if os.environ.get("CI", "").lower() != "true":
        pytest.skip("only CI promises Compose (.ci/run installs docker-compose)")
    assert any(_compose_installed(c) for c in COMPOSE_SPELLINGS), "neither `docker compose` nor `docker-compose` runs"


@pytest.mark.slow  # starts docker-compose (Compose v1 is a Python program)
@pytest.mark.parametrize("command", COMPOSE_SPELLINGS, ids=" ".join)
def test_docker_compose_accepts_the_file(command: tuple[str, ...], tmp_path: Path) -> None:
    if not _compose_installed(command):
        pytest.skip(f"`{' '.join(command)}` is not installed (docs/docker.md: either spelling works)")
    env = {**os.environ, "PROFILE": "t4-fp16", "EF_UID": "1234", "EF_ARTIFACTS": str(tmp_path)}
    result = subprocess.run([*command, "-f", str(COMPOSE), "config"], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)["services"]
    assert resolved["builder"]["command"][2] == "/profiles/t4-fp16.yaml"
    assert resolved["builder-cpu"]["user"] == "1234:1000"
    assert {v["target"]: v["source"] for v in resolved["builder"]["volumes"]}["/artifacts"] == str(tmp_path)

"""container_spec is pure and pinned by golden files; the docker run twin says the same."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from builder.errors import UsageError
from builder.host.spec import (
    BASE_ENVIRONMENT,
    GpuRequest,
    HostSettings,
    container_spec,
    docker_run_argv,
    flavour_for_backend,
    gpu_requests,
)
from builder.profile import Backend

GOLDEN = Path(__file__).parent / "golden"
IMAGE_ID = "sha256:" + "a" * 64


def settings(**overrides: object) -> HostSettings:
    base = HostSettings(
        profiles_dir=Path("/srv/ef/profiles"),
        models_dir=Path("/srv/ef/models"),
        artifacts_dir=Path("/srv/ef/artifacts"),
        cache_dir=Path("/srv/ef/cache"),
        user="1000:1000",
        image_id=IMAGE_ID,
        environment={"ENGINE_FOUNDRY_BASE_IMAGE": "python:3.11-slim-bookworm", "ENGINE_FOUNDRY_BASE_PINNED": "false"},
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


CASES = {
    "cpu-fp32": ("cpu-fp32", Backend.ONNXRUNTIME, settings()),
    "t4-fp16-gpu1-force": (
        "t4-fp16",
        Backend.TENSORRT,
        settings(gpus="1", force=True, image="engine-foundry:trt", tmpfs_size="4g"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_container_spec_matches_golden(case: str) -> None:
    name, backend, host = CASES[case]
    actual = container_spec(name, backend, host).to_dict()
    golden = GOLDEN / f"container_spec_{case}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(actual, indent=2) + "\n")
    assert actual == json.loads(golden.read_text()), (
        f"regenerate with UPDATE_GOLDEN=1 if the change is intended: {golden}"
    )


def test_spec_is_hardened_whatever_the_settings() -> None:
    for name, backend, host in CASES.values():
        spec = container_spec(name, backend, host)
        assert (spec.network_mode, spec.read_only, spec.cap_drop, spec.security_opt) == (
            "none",
            True,
            ("ALL",),
            ("no-new-privileges",),
        )
        assert spec.user == host.user and not spec.user.startswith("0:")
        assert {m.target: m.read_only for m in spec.mounts} == {
            "/profiles": True,
            "/models": True,
            "/artifacts": False,
            "/cache": False,
        }
        assert BASE_ENVIRONMENT.items() <= dict(spec.environment).items()


def test_gpus_only_for_tensorrt_profiles() -> None:
    assert container_spec("cpu-fp32", "onnxruntime", settings(gpus="0")).device_requests == ()
    assert container_spec("t4-fp16", "tensorrt", settings()).device_requests == (GpuRequest(count=-1),)
    assert gpu_requests("0,2") == (GpuRequest(device_ids=("0", "2")),)


@pytest.mark.parametrize("bad", ["", "gpu0", "0,", "-1", "all,0"])
def test_bad_gpu_choice_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError, match="--gpus"):
        gpu_requests(bad)


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b", "", ".hidden"])
def test_profile_name_must_be_a_plain_file_name(bad: str) -> None:
    with pytest.raises(UsageError, match="plain file name"):
        container_spec(bad, "onnxruntime", settings())


def test_image_id_is_run_and_passed_as_environment_identity() -> None:
    spec = container_spec("cpu-fp32", "onnxruntime", settings())
    assert spec.image == IMAGE_ID
    assert spec.command[-2:] == ("--image-id", IMAGE_ID)
    unresolved = container_spec("cpu-fp32", "onnxruntime", settings(image_id=""))
    assert unresolved.image == "engine-foundry:cpu" and "--image-id" not in unresolved.command


def test_flavour_follows_backend() -> None:
    assert [flavour_for_backend(b) for b in (Backend.TENSORRT, "tensorrt", Backend.ONNXRUNTIME)] == [
        "trt",
        "trt",
        "cpu",
    ]


def test_docker_run_argv_carries_every_setting() -> None:
    spec = container_spec("t4-fp16", "tensorrt", settings(gpus="1"))
    argv = docker_run_argv(spec)
    for flag in (
        "--user=1000:1000",
        "--network=none",
        "--read-only",
        "--init",
        "--tmpfs=/tmp:size=2g",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        '--gpus="device=1"',
        "--mount=type=bind,source=/srv/ef/profiles,target=/profiles,readonly",
        "--mount=type=bind,source=/srv/ef/artifacts,target=/artifacts",
        "--env=YOLO_OFFLINE=1",
    ):
        assert flag in argv
    assert argv[-len(spec.command) - 1 :] == [spec.image, *spec.command]
    shell = docker_run_argv(spec, entrypoint="/bin/bash", interactive=True)
    assert "-it" in shell and shell[-1] == spec.image and "--entrypoint=/bin/bash" in shell


def test_container_paths_in_the_log_become_host_paths(tmp_path) -> None:
    from builder.host.settings import host_settings
    from builder.host.spec import container_spec, to_host_paths

    settings = host_settings(tmp_path / "profiles", tmp_path / "models", tmp_path / "art", tmp_path / "cache")
    spec = container_spec("cpu-fp32", "onnxruntime", settings)
    line = "BUILT cpu-fp32: /artifacts/cpu-fp32/builds/X (weights /models/y.pt; not /opt/artifacts/z)"
    assert to_host_paths(line, spec.mounts) == (
        f"BUILT cpu-fp32: {tmp_path / 'art'}/cpu-fp32/builds/X (weights {tmp_path / 'models'}/y.pt; not /opt/artifacts/z)"
    )

import json
import subprocess
import sys

import pytest

from tests.support import REPO


def test_doctor_reports_what_each_profile_needs_here():
    result = subprocess.run(
        [sys.executable, "-m", "builder", "doctor", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["python"] and report["packages"]["onnxruntime"]
    profiles = {p["name"]: p for p in report["profiles"]}
    assert profiles["cpu-fp32"]["ready"] is True
    assert not any(name.startswith("_") for name in profiles)  # abstract bases are not buildable
    if report["packages"]["tensorrt"] is None:
        assert profiles["a10-fp16"]["ready"] is False
        assert "python package tensorrt" in profiles["a10-fp16"]["missing"]
    if not report["gpus"]:
        assert any("NVIDIA GPU" in m for m in profiles["t4-fp16"]["missing"])
        assert report["gpu_discovery"]  # says why no GPU was found


@pytest.mark.slow  # imports every build package to report it
def test_doctor_splits_host_needs_from_image_contents_and_says_per_profile_if_buildable_here():
    result = subprocess.run(
        [sys.executable, "-m", "builder", "doctor"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    host, rest = out.split("\nimages ", 1)
    images, rest = rest.split("\nprofiles ", 1)
    profiles, bare = rest.split("\nthis process ", 1)
    for need in ("docker", "gpu", "nvidia_container_toolkit", "debootstrap"):
        assert f"  {need} " in host
    assert "ultralytics" not in host and "torch" not in host  # container-only packages are not host needs
    assert "engine-foundry:cpu" in images and "engine-foundry:trt" in images and "base " in images
    assert "  cpu-fp32 " in profiles and "buildable here: " in profiles
    report = json.loads(subprocess.run([sys.executable, "-m", "builder", "doctor", "--json"], cwd=REPO,
                                       capture_output=True, text=True, timeout=120).stdout)  # fmt: skip
    by_name = {p["name"]: p for p in report["profiles"]}
    if not report["gpus"]:
        assert by_name["a10-fp16"]["buildable"] is False and "needs an NVIDIA GPU" in by_name["a10-fp16"]["why"]
        assert "a10-fp16                   buildable here: no: the tensorrt backend needs an NVIDIA GPU" in profiles


def test_doctor_says_a_missing_docker_engine_once_in_words_not_per_profile(tmp_path) -> None:
    """Issue 17 §4, seen on a GPU host without Docker: the SDK's raw DockerException(... FileNotFoundError ...) was
    repeated once per profile. The real SDK against a socket that does not exist: the host line explains it once."""
    import os

    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"}
    result = subprocess.run(
        [sys.executable, "-m", "builder", "doctor"], cwd=REPO, capture_output=True, text=True, timeout=120, env=env
    )
    assert result.returncode == 0, result.stderr
    host, rest = result.stdout.split("\nimages ", 1)
    assert f"no Docker engine at unix://{tmp_path}/no-such.sock: nothing listens there" in host
    assert "DockerException" not in result.stdout and "FileNotFoundError" not in result.stdout
    assert result.stdout.count("nothing listens there") == 1
    profiles = rest.split("\nprofiles ", 1)[1].split("\nthis process ", 1)[0]
    cpu = next(line for line in profiles.splitlines() if line.startswith("  cpu-fp32 "))
    assert cpu.endswith("buildable here: no: no Docker engine (see host: docker)")


@pytest.mark.parametrize(
    ("error", "said"),
    [
        # the docker SDK 7.1 texts (docker/api/client.py _retrieve_server_version wraps the requests error)
        (
            "Error while fetching server API version: ('Connection aborted.', FileNotFoundError(2, 'No such file or "
            "directory'))",
            "nothing listens there",
        ),
        (
            "Error while fetching server API version: ('Connection aborted.', "
            "PermissionError(13, 'Permission denied'))",
            "may not use its socket",
        ),
        (
            "Error while fetching server API version: ('Connection aborted.', ConnectionRefusedError(111, 'Connection "
            "refused'))",
            "refuses connections",
        ),
        (
            "Error while fetching server API version: UnixHTTPConnectionPool(host='localhost', port=None): Read timed "
            "out. (read timeout=5)",
            "did not answer within 5 s",
        ),
        ("something new", "DockerException: something new"),
    ],
)
def test_docker_errors_in_words(error: str, said: str) -> None:
    from builder.machine.doctor import docker_unreachable

    class DockerException(Exception):
        pass

    text = docker_unreachable(DockerException(error))
    assert text.startswith("no Docker engine at ") and said in text


def recorded_gpu(name: str):
    """One GPU as recorded on the device machine (tests/backends/tensorrt/data/*-nvidia-smi-query.csv)."""
    from builder.machine.gpu import parse_nvidia_smi_csv

    data = REPO / "tests" / "backends" / "tensorrt" / "data"
    found = [g for path in sorted(data.glob("*-nvidia-smi-query.csv")) for g in parse_nvidia_smi_csv(path.read_text())]
    return next(g for g in found if g.name == name)


@pytest.mark.parametrize(
    ("gpu", "accepted", "refused"),
    [
        ("NVIDIA H100 80GB HBM3", {"h100-fp16"}, {"h100-fp16": None, "a10-fp16": "targets GPU 'A10' or 'A10G'"}),
        # an H200 is not an H100 (another board: 141 GB HBM3e, other memory bandwidth, so other tactics): refused with
        # the way to accept it
        (
            "NVIDIA H200",
            set(),
            {
                "h100-fp16": "targets GPU 'H100' compute capability 9.0, but this host builds on GPU 0 "
                "'NVIDIA H200' (compute capability 9.0)"
            },
        ),
    ],
)
def test_doctor_checks_each_profile_target_against_the_recorded_gpu(monkeypatch, gpu, accepted, refused) -> None:
    from builder.machine import doctor
    from builder.machine import gpu as gpu_module
    from builder.machine.gpu import GpuProbe

    found = recorded_gpu(gpu)
    monkeypatch.setattr(gpu_module, "probe_gpus", lambda: GpuProbe((found,), "nvidia-smi"))
    monkeypatch.setattr(doctor, "_docker_client", lambda: (None, "no Docker engine at x: test"))
    report = doctor.run_doctor(REPO / "profiles")
    whys = {p["name"]: p["why"] for p in report.profiles}
    for name, text in refused.items():
        targets = [part for part in whys[name].split("; ") if part.startswith("target: ")]
        assert (not targets) if text is None else text in targets[0], whys[name]
    for name in accepted:
        assert "target:" not in whys[name]
    assert all(why.count("no Docker engine") == 1 for why in whys.values() if "invalid" not in why)

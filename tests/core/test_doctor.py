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

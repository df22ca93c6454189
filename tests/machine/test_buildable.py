"""Whether this host can build a profile, from the backend catalogue's facts (GPU need, packages)."""

from __future__ import annotations

from builder.machine.buildable import BuildHost, why_not_buildable


def test_a_gpu_backend_on_a_gpu_less_host_names_the_gpu_and_how_discovery_failed():
    host = BuildHost(0, "NVML: the pynvml module (nvidia-ml-py) is not installed; nvidia-smi: not on PATH")
    reason = why_not_buildable("tensorrt", host)
    assert reason is not None and "needs an NVIDIA GPU" in reason and "nvidia-smi: not on PATH" in reason
    assert why_not_buildable("onnxruntime", host) is None


def test_a_gpu_host_can_build_tensorrt_in_docker_without_tensorrt_installed_here():
    assert why_not_buildable("tensorrt", BuildHost(1, "nvml")) is None


def test_an_in_process_build_also_needs_the_backends_packages_here():
    packages = {
        "torch": "2",
        "ultralytics": "8",
        "onnx": "1",
        "onnxruntime": "1",
        "polygraphy": "0.49",
        "tensorrt": None,
    }
    reason = why_not_buildable("tensorrt", BuildHost(1, "nvml", packages))
    assert reason is not None and "tensorrt" in reason and "--bare" in reason
    assert why_not_buildable("onnxruntime", BuildHost(0, "none", packages)) is None

"""GPU tests run only where TensorRT and an NVIDIA GPU are present (`make test-gpu`, i.e. `pytest -m gpu`,
inside the TensorRT image on a GPU host); elsewhere every test here is skipped with the reason."""

from __future__ import annotations

import pytest

import tests.pipeline.stages.helpers  # noqa: F401  (no run-time installs, offline ultralytics: set before any import)


def missing_for_gpu_tests() -> str | None:
    """Why the GPU tests cannot run here, or None."""
    from builder.backends.tensorrt.trt_calls import import_tensorrt
    from builder.machine.gpu import probe_gpus

    reasons = []
    try:
        import_tensorrt()
    except ImportError as err:
        reasons.append(f"TensorRT is not importable ({err})")
    probe = probe_gpus()
    if not probe.gpus:
        reasons.append(f"no NVIDIA GPU is visible ({'; '.join(probe.problems)})")
    if not reasons:
        return None
    return "; ".join(reasons) + " - run `make test-gpu` in the TensorRT image (`make image FLAVOUR=trt`) on a GPU host"


@pytest.fixture(autouse=True, scope="session")
def _requires_tensorrt_and_gpu() -> None:
    reason = missing_for_gpu_tests()
    if reason:
        pytest.skip(reason)

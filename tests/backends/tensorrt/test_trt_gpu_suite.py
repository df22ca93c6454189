"""Issue 10, item 8: `make test-gpu` is one command that runs tests/gpu inside the trt image, with the repository
read-only, hash-locked test requirements, and a JUnit report under artifacts/ (checked here without Docker)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.host.gpu_tests import image_build_argv, suite_run_argv
from tests.support import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_gpu_is_one_builder_command() -> None:
    def dry(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", "--no-print-directory", "PYTHON=python3", "test-gpu", *args],  # the command, not the set-up
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()

    assert dry() == "python3 -m builder test-gpu"
    assert shlex.split(dry("PYTEST_ARGS=-k rebuild -x")) == [
        "python3",
        "-m",
        "builder",
        "test-gpu",
        "--pytest-args",
        "-k rebuild -x",
    ]


def test_the_suite_runs_in_the_test_image_with_the_repository_read_only(tmp_path: Path) -> None:
    argv = suite_run_argv(tmp_path, "engine-foundry:trt", "all", ["-k", "bench mark"], "models/best.pt")
    assert argv[:3] == ["docker", "run", "--rm"] and "--gpus=all" in argv and "--read-only" in argv
    assert f"--mount=type=bind,source={tmp_path},target=/repo,readonly" in argv
    assert f"--mount=type=bind,source={tmp_path}/artifacts/test-gpu,target=/artifacts" in argv
    assert "--env=CUDA_DEVICE_ORDER=PCI_BUS_ID" in argv and "--env=ENGINE_FOUNDRY_GPU_CHECKPOINT=models/best.pt" in argv
    image, shell, command = argv[-3], argv[-2], argv[-1]
    assert image == "engine-foundry:trt-test" and shell == "-c"
    assert command.startswith("python -m builder.backends.tensorrt.smoke && python -m pytest -m gpu tests/gpu")
    assert "--junitxml=/artifacts/junit.xml" in command and command.endswith("-k 'bench mark'")
    build = image_build_argv(tmp_path, "engine-foundry:trt")
    assert build[-3:] == ["-t", "engine-foundry:trt-test", str(tmp_path)] and "IMAGE=engine-foundry:trt" in build


def test_the_test_image_installs_only_hash_locked_requirements() -> None:
    dockerfile = (REPO / "tests" / "gpu" / "Dockerfile").read_text()
    assert "--require-hashes --no-deps" in dockerfile and "requirements/test-gpu.txt" in dockerfile
    lock = (REPO / "requirements" / "test-gpu.txt").read_text()
    pins = re.findall(r"^([a-z0-9._-]+)==(\S+) \\\n\s+--hash=sha256:[0-9a-f]{64}$", lock, flags=re.M)
    assert ("pytest", "9.0.3") in pins and {name for name, _ in pins} >= {"pluggy", "iniconfig", "packaging"}
    assert len(pins) == lock.count("==")  # every pin has its hash


# --- issue 17 §2 item 1: the GPU suite under the image's warning filters ----------------------------------


def _polygraphy_runner() -> object:
    """A runner on Polygraphy 0.53.6's real ``BaseRunner`` (its ``get_input_metadata`` deprecation path and input
    checks), standing in for ``TrtRunner`` over the plan: same input, same output shape as yolo11n at 640."""
    import numpy as np
    from polygraphy.backend.base import BaseRunner
    from polygraphy.common import TensorMetadata

    class PlanRunner(BaseRunner):
        def __init__(self) -> None:
            super().__init__(name="plan")

        def activate_impl(self) -> None:
            pass

        def deactivate_impl(self) -> None:
            pass

        def get_input_metadata_impl(self) -> TensorMetadata:
            return TensorMetadata().add("images", np.float32, (1, 3, 640, 640))

        def infer_impl(self, feed_dict: dict[str, object]) -> dict[str, object]:
            self.inference_time = 0.001
            return {"output0": np.zeros((1, 84, 8400), dtype=np.float32)}

    return PlanRunner()


def test_engine_runs_under_the_suites_warning_filter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``pyproject.toml`` turns every warning into an error in the image too; Polygraphy 0.53.6 warns (deprecation)
    from ``get_input_metadata()`` unless ``use_numpy_dtypes=False`` (``backend/base/runner.py``)."""
    import warnings
    from types import SimpleNamespace

    from tests.gpu import test_tensorrt_e2e as e2e

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runner = _polygraphy_runner()
        with runner, pytest.raises(DeprecationWarning, match="NumPy data types"):  # the stand-in has teeth
            runner.get_input_metadata()
        monkeypatch.setattr(e2e, "make_runner", lambda path, profile: _polygraphy_runner())
        e2e.test_engine_runs(SimpleNamespace(workdir=tmp_path, profile=None))  # type: ignore[arg-type]


def test_every_runner_metadata_call_asks_for_polygraphy_types() -> None:
    """The same audit over every Polygraphy runner call in the GPU suite and the code it drives."""
    calls = []
    for path in [*(REPO / "tests" / "gpu").glob("*.py"), *(REPO / "builder").rglob("*.py")]:
        text = path.read_text()
        calls += [(path.name, m.group(0)) for m in re.finditer(r"get_(?:input|output)_metadata\([^)]*\)", text)]
    assert calls and all("use_numpy_dtypes=False" in call for _, call in calls), calls


def test_the_gpu_suite_collects_with_the_images_warning_filters() -> None:
    """Collection in the image: rootdir /repo, so pyproject's ``filterwarnings = ["error", ...]`` applies."""
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "gpu", "-p", "no:cacheprovider", "tests/gpu"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "test_tensorrt_e2e.py::test_engine_runs" in out.stdout and "warning" not in out.stdout.lower()

"""Issue 10, item 8: `make test-gpu` is one command that runs tests/gpu inside the trt image, with the repository
read-only, hash-locked test requirements, and a JUnit report under artifacts/ (checked here without Docker)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from builder.host.gpu_tests import image_build_argv, suite_run_argv
from tests.support import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_gpu_is_one_builder_command() -> None:
    def dry(*args: str) -> str:
        return subprocess.run(
            ["make", "-n", "--no-print-directory", "test-gpu", *args],
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

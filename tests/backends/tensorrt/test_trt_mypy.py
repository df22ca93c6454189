"""Every direct TensorRT call type-checks against tensorrt-stubs (the TensorRT 10.13 API), with mypy."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends.tensorrt.trt_stubs import installed_stub_dirs, prepare
from tests.support import REPO

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed"),
    pytest.mark.skipif(not installed_stub_dirs(), reason="tensorrt-stubs is not installed"),
]


def run_mypy(stubs: Path, cache: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYPYPATH": str(stubs)}
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(REPO / "mypy.ini"), "--cache-dir", str(cache), *files]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trt-stubs")
    assert prepare(folder) == 5  # the five generated signatures with a parameter named `in`
    return folder


@pytest.mark.slow  # a cold mypy run over the whole package (minutes on 2 cores); `make lint` runs it warm
def test_the_whole_builder_package_type_checks(stubs: Path, tmp_path: Path) -> None:
    """The TensorRT backend against the stubs, and every other module with it (mypy.ini's `files`)."""
    done = run_mypy(stubs, tmp_path / "cache", "builder")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


@pytest.mark.slow  # a cold mypy run with the stubs
def test_mypy_does_catch_a_wrong_tensorrt_call(stubs: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong_trt.py"
    wrong.write_text(
        "import tensorrt as trt\n"
        "builder = trt.Builder(trt.Logger(trt.Logger.WARNING))\n"
        "network = builder.create_network('explicit')\n"  # flags are an int
        "config = builder.create_builder_config()\n"
        "config.max_workspace_size = 1 << 30\n"  # TensorRT 8.6 only: removed in 10.0
    )
    done = run_mypy(stubs, tmp_path / "cache", str(wrong))
    assert done.returncode == 1
    assert 'Argument 1 to "create_network" of "Builder" has incompatible type "str"' in done.stdout
    assert '"IBuilderConfig" has no attribute "max_workspace_size"' in done.stdout

"""scripts/setup-env, the one set-up path of `make engine`, `make test` and .ci/run: what runs, when, and its errors."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import folder_snapshot, snapshot_changes
from tests.support import REPO

SETUP = REPO / "scripts" / "setup-env"
HOST_TARGETS = [
    "image",
    "engine",
    "engines",
    "validate",
    "verify",
    "shell",
    "pin",
    "offline-base",
    "nightly",
    "bundle",
    "clean",
]
DEV_TARGETS = ["test", "test-gpu", "bench"]


def _dry_run(target: str, *args: str) -> list[str]:
    argv = ["make", "--no-print-directory", "-n", target, *args]
    out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line.strip()]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target", HOST_TARGETS + DEV_TARGETS)
def test_every_target_sets_up_the_venv_first_then_runs_in_it(target: str) -> None:
    kind = "dev" if target in DEV_TARGETS else "verify" if target == "verify" else "host"  # verify runs the model
    commands = _dry_run(target)
    assert commands[0] == f"scripts/setup-env {kind} .venv"
    assert commands[1].startswith(".venv/bin/python ") and len(commands) == 2, commands


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_another_python_is_used_as_it_is() -> None:
    assert _dry_run("engine", "PYTHON=/opt/py/bin/python3") == [
        "/opt/py/bin/python3 -m builder engine --profile cpu-fp32-shapes"
    ]


def test_the_requirement_files_pin_every_package_and_name_their_index() -> None:
    requirements = REPO / "requirements"
    cpu_index = ("torch-cpu.txt", "torchvision-cpu.txt")
    for name in (
        "host.txt",
        *cpu_index,
        "torchvision-fallback.txt",
        "dev.txt",
        "stubs.txt",
        "verify.txt",
        "signing.txt",
    ):
        lines = [line for line in (requirements / name).read_text().splitlines() if line and not line.startswith("#")]
        pins = [line for line in lines if not line.startswith("--")]
        # an exact pin, at most an older-Python marker (signing.txt: sigstore's importlib-resources below 3.11)
        pin_re = r"[a-z0-9-]+==[\w.+]+( ; python_version < \"3\.\d+\")?"
        assert pins and all(re.fullmatch(pin_re, pin) for pin in pins), (name, pins)
        options = [line for line in lines if line.startswith("--")]
        assert options == (["--extra-index-url https://download.pytorch.org/whl/cpu"] if name in cpu_index else []), (
            name
        )
    torch = (requirements / "torch-cpu.txt").read_text()
    assert "torch==2.13.0+cpu" in torch and "torch==2.13.0+cpu" in (requirements / "cpu.txt").read_text()
    # torch 2.13's torchvision is 0.28: the CPU index's build, else the same version from the default index
    assert "torchvision==0.28.0+cpu" in (requirements / "torchvision-cpu.txt").read_text()
    assert "torchvision==0.28.0\n" in (requirements / "torchvision-fallback.txt").read_text()
    dev = (requirements / "dev.txt").read_text()
    assert "\ntensorrt" not in dev and "\nopencv-python==" not in dev, (
        "tensorrt downloads from NVIDIA; opencv-python needs X11"
    )


@pytest.fixture
def world_readable_tmp() -> Iterator[Path]:
    """A folder another user (nobody) can use: pytest's own tmp_path is private to root."""
    folder = Path(tempfile.mkdtemp(prefix="ef-setup-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder)


def _fake_python(folder: Path, version: str, venv_works: bool) -> Path:
    """A python3 of ``version`` whose ``-m venv`` fails as Debian's does without python3-venv (or works)."""
    script = folder / "python3"
    venv_branch = 'exec "$REAL" "$@"' if venv_works else 'echo "ensurepip is not available" >&2; exit 1'
    script.write_text(f"""#!/bin/sh
REAL={sys.executable}
case "$*" in
  *"sys.version_info < (3, 10)"*) exit {int(tuple(map(int, version.split("."))) < (3, 10))} ;;
  *"sys.version_info[:2]"*) echo {version}; exit 0 ;;
  *"-m venv"*) {venv_branch} ;;
esac
exec "$REAL" "$@"
""")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script


def _setup(kind: str, venv: Path, python: Path | str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(venv.parent), "ENGINE_FOUNDRY_PYTHON": str(python)}
    return subprocess.run(
        ["bash", str(SETUP), kind, str(venv)], capture_output=True, text=True, env=env, user=user, timeout=600
    )


def _error_and_tip(result: subprocess.CompletedProcess[str]) -> tuple[str, str]:
    lines = result.stderr.strip().splitlines()
    assert lines[-2].startswith("ERROR ") and lines[-1].startswith("TIP "), result.stderr
    return lines[-2], lines[-1]


@pytest.mark.skipif(os.geteuid() != 0, reason="runs the script as another user (needs root)")
def test_without_the_venv_module_a_user_is_told_exactly_what_to_run(world_readable_tmp: Path) -> None:
    python = _fake_python(world_readable_tmp, "3.11", venv_works=False)
    result = _setup("host", world_readable_tmp / "venv", python, user=65534)
    assert result.returncode == 3
    error, tip = _error_and_tip(result)
    assert "cannot make a virtual environment: its venv module (or ensurepip) is missing" in error
    assert "`sudo apt-get install python3-venv python3.11-venv`" in tip
    assert not (world_readable_tmp / "venv").exists(), "a half-made venv is removed"


def test_too_old_a_python_is_refused_with_a_tip(world_readable_tmp: Path) -> None:
    result = _setup("host", world_readable_tmp / "venv", _fake_python(world_readable_tmp, "3.8", venv_works=True))
    assert result.returncode == 3
    error, tip = _error_and_tip(result)
    assert "is Python 3.8; Engine Foundry needs Python >= 3.10" in error and "ENGINE_FOUNDRY_PYTHON" in tip


def test_no_python_at_all_is_refused_with_a_tip(world_readable_tmp: Path) -> None:
    result = _setup("host", world_readable_tmp / "venv", "python3-that-does-not-exist")
    assert result.returncode == 3
    error, tip = _error_and_tip(result)
    assert "no python3-that-does-not-exist on PATH" in error and "apt-get install python3 python3-venv" in tip


def test_an_unknown_set_is_a_usage_error(world_readable_tmp: Path) -> None:
    result = _setup("gpu", world_readable_tmp / "venv", sys.executable)
    assert result.returncode == 2
    error, tip = _error_and_tip(result)
    assert "unknown set gpu" in error and "scripts/setup-env dev" in tip and "scripts/setup-env verify" in tip


def test_the_verify_set_is_the_cpu_images_runtime_and_what_dev_has() -> None:
    """Issue 22 §3: `scripts/setup-env verify` gives an ops host the ONNX Runtime the builds were checked with."""

    def pins(name: str) -> dict[str, str]:
        text = (REPO / "requirements" / name).read_text()
        return dict(re.findall(r"^([a-z0-9-]+)==([\w.+]+)", text, flags=re.M))

    verify, cpu, dev = pins("verify.txt"), pins("cpu.txt"), pins("dev.txt")
    assert {"onnxruntime", "numpy", "polygraphy", "protobuf", "flatbuffers", "packaging"} <= set(verify)
    assert all(cpu[name] == version == dev[name] for name, version in verify.items()), (verify, cpu)
    script = SETUP.read_text()
    assert "verify) echo requirements/host.txt requirements/signing.txt requirements/verify.txt ;;" in script


def test_a_python_without_the_host_packages_gets_an_error_not_a_traceback(world_readable_tmp: Path) -> None:
    bare = world_readable_tmp / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result = subprocess.run(
        [str(bare / "bin" / "python"), "-m", "builder", "engine"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 3 and "Traceback" not in result.stderr
    error, tip = _error_and_tip(result)
    assert (
        error.startswith("ERROR the Python package 'yaml' is not installed in ")
        and "`.venv/bin/engine-foundry engine`" in tip
    )


@pytest.mark.slow
def test_host_set_up_once_then_a_no_op_until_a_requirement_file_changes(world_readable_tmp: Path) -> None:
    """A copy of the set-up's inputs (so a requirement file can change): the real venv, the real pip."""
    repo = world_readable_tmp / "repo"
    for name in ("scripts", "requirements", "builder"):
        shutil.copytree(REPO / name, repo / name, ignore=shutil.ignore_patterns("wheelhouse", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, repo / name)
    venv = repo / ".venv"
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "ENGINE_FOUNDRY_PYTHON": sys.executable}

    def run() -> subprocess.CompletedProcess[str]:
        argv = ["bash", str(repo / "scripts" / "setup-env"), "host"]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)

    first = run()
    assert first.returncode == 0, first.stderr
    assert "is ready (host)" in first.stderr
    check = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import yaml, docker, builder; print(builder.__file__)"],
        capture_output=True,
        text=True,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    assert check.returncode == 0 and check.stdout.strip() == str(repo / "builder" / "__init__.py"), check.stderr

    venv_before = folder_snapshot(repo, (".venv",))
    again = run()
    assert again.returncode == 0 and again.stderr == "" and again.stdout == ""
    assert snapshot_changes(venv_before, folder_snapshot(repo, (".venv",))) == []  # nothing installed, not even stamped

    with open(repo / "requirements" / "host.txt", "a") as handle:
        handle.write("# a comment changes the key\n")
    assert "installing the pinned host packages" in run().stderr


def test_the_dev_extra_has_what_the_tests_import_and_nothing_that_downloads_tensorrt() -> None:
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert "engine-foundry[host,container]" in extras["dev"]
    names = {re.split(r"[<>=\[ ]", item)[0] for item in extras["dev"] + extras["host"] + extras["container"]}
    assert {
        "pytest",
        "hypothesis",
        "mypy",
        "jsonschema",
        "docker",
        "ultralytics",
        "onnx",
        "onnxruntime",
        "polygraphy",
    } <= names
    assert not any(name.startswith("tensorrt") for name in names), "tensorrt-stubs pulls tensorrt (NVIDIA's index)"

"""The Makefile is a thin shim: `help` by default, every target one command into the CLI (or pytest) that exists."""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess

import pytest

from builder.cli import build_parser
from tests.support import REPO

TARGETS = [
    "help",
    "image",
    "engine",
    "engines",
    "farm",
    "validate",
    "verify",
    "shell",
    "pin",
    "offline-base",
    "test",
    "test-all",
    "lint",
    "test-gpu",
    "bench",
    "nightly",
    "bundle",
    "clean",
    "fixture-model",
]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def make(*args: str) -> str:
    """``make`` with PYTHON=python3: the command itself, without the .venv set-up (tests/setup/test_setup_env.py)."""
    argv = ["make", "--no-print-directory", "PYTHON=python3", *args]
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True).stdout


def test_default_target_lists_every_target() -> None:
    listed = [line.split()[1] for line in make().splitlines() if line.startswith("  make ")]
    assert listed == TARGETS


@pytest.mark.parametrize("target", TARGETS[1:])
def test_each_target_is_one_existing_cli_command(target: str) -> None:
    commands = [line for line in make("-n", target).splitlines() if line.strip()]
    assert len(commands) == 1, commands
    argv = shlex.split(commands[0])
    if target == "bench":  # benchmarks are a script that prints ratios, not tests
        assert argv == ["python3", "bench/run.py"] and (REPO / "bench" / "run.py").is_file()
        return
    if target == "lint":  # ruff and mypy (with the TensorRT stubs on MYPYPATH), not tests
        assert argv == ["python3", "scripts/lint.py"] and (REPO / "scripts" / "lint.py").is_file()
        return
    assert argv[:2] == ["python3", "-m"] and argv[2] in ("builder", "pytest")
    if argv[2] == "builder":
        action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
        assert argv[3] in action.choices, f"`make {target}` runs `{commands[0]}`, but the CLI has no {argv[3]!r}"


def test_variables_reach_the_command() -> None:
    assert make("-n", "engine", "PROFILE=a10-fp16").strip() == "python3 -m builder engine --profile a10-fp16"
    assert make("-n", "engines", "PROFILES=a b").strip() == "python3 -m builder engines --profiles a b"
    assert make("-n", "engines").strip() == "python3 -m builder engines"
    assert make("-n", "nightly", "PROFILES=a b").strip() == "python3 -m builder nightly --profiles a b"
    assert make("-n", "nightly").strip() == "python3 -m builder nightly"
    assert make("-n", "image", "FLAVOUR=trt").strip() == "python3 -m builder image --flavour trt"
    assert make("-n", "bundle", "PROFILE=a").strip() == "python3 -m builder bundle --profile a"
    assert make("-n", "bundle", "PROFILE=a", "SIGN_KEY=k.pem").strip() == (
        "python3 -m builder bundle --profile a --sign-key k.pem"
    )
    assert make("-n", "verify", "ARTIFACT=b.tar.gz", "TRUSTED_KEY=pub.pem").strip() == (
        "python3 -m builder verify b.tar.gz --trusted-key pub.pem"
    )
    assert make("-n", "verify", "ARTIFACT=f.tar.gz", "SELECT=1", "EXTRACT=d").strip() == (
        "python3 -m builder verify --select f.tar.gz --extract d"
    )
    assert make("-n", "test").strip() == 'python3 -m pytest -m "not gpu and not slow" --durations=25'
    assert make("-n", "test-all").strip() == 'python3 -m pytest -m "not gpu" --durations=25'

"""The host subcommands: registered with the CLI, and their failures are one ERROR line with a TIP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import REPO

HOST_COMMANDS = ["engine", "engines", "image", "shell", "pin", "offline-base", "lock", "clean"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "builder", *args], cwd=REPO, capture_output=True, text=True, env={**os.environ, **(env or {})})


def test_every_host_command_has_help() -> None:
    for command in HOST_COMMANDS:
        result = cli(command, "--help")
        assert result.returncode == 0 and result.stdout.startswith(f"usage: python -m builder {command}"), result.stderr


def test_engine_without_docker_is_exit_3_with_a_tip(tmp_path: Path) -> None:
    result = cli("engine", "--profile", "cpu-fp32", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"ERROR no Docker engine answers at unix://{tmp_path}/none.sock",
        "TIP start it (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at a running engine",
    ]


def test_lock_reports_a_resolution_failure(tmp_path: Path) -> None:
    result = cli("lock", "--flavour", "cpu", "--check", "--pip-arg=--no-index", "--pip-arg=--find-links", f"--pip-arg={tmp_path}")
    assert result.returncode == 3 and "pip could not resolve" in result.stderr

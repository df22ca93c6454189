"""The host subcommands: registered with the CLI, and their failures are one ERROR line with a TIP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

HOST_COMMANDS = ["engine", "engines", "image", "shell", "pin", "offline-base", "lock", "clean"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "builder", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_every_host_command_has_help() -> None:
    for command in HOST_COMMANDS:
        result = cli(command, "--help")
        assert result.returncode == 0 and result.stdout.startswith(f"usage: engine-foundry {command}"), result.stderr


def test_engine_without_docker_is_exit_3_with_a_tip(tmp_path: Path) -> None:
    result = cli("engine", "--profile", "cpu-fp32", env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"ERROR no Docker engine answers at unix://{tmp_path}/none.sock",
        "TIP start it (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at a running engine",
    ]


@pytest.mark.slow  # runs pip's resolver
def test_lock_reports_a_resolution_failure(tmp_path: Path) -> None:
    result = cli(
        "lock", "--flavour", "cpu", "--check", "--pip-arg=--no-index", "--pip-arg=--find-links", f"--pip-arg={tmp_path}"
    )
    assert result.returncode == 3 and "pip could not resolve" in result.stderr


def test_a_stale_lock_is_an_error_on_stderr_with_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from builder import cli as builder_cli
    from builder.host import lockfile

    checked: list[bool] = []

    def stale(requirements_dir: Path, flavour: str, pip_args: list[str], check: bool) -> bool:
        checked.append(check)
        return False  # what write_lock answers when the lock differs from a fresh resolution

    monkeypatch.setattr(lockfile, "write_lock", stale)
    assert builder_cli.main(["lock", "--flavour", "cpu", "--check"]) == 1
    out, err = capsys.readouterr()
    assert checked == [True] and out == ""
    assert err.splitlines() == [
        "ERROR requirements/cpu.txt is stale",
        "TIP run: .venv/bin/engine-foundry lock --flavour cpu",
    ]


def test_a_gpu_profile_on_a_gpu_less_host_names_the_gpu_before_any_docker_or_image_work(monkeypatch, capsys) -> None:
    from builder.cli import main
    from builder.host import commands
    from builder.machine.buildable import BuildHost

    monkeypatch.setattr(BuildHost, "probe", classmethod(lambda cls, **_: cls(0, "nvidia-smi: not on PATH")))
    monkeypatch.setattr(commands, "_docker", lambda: pytest.fail("Docker was asked before the GPU check"))
    assert main(["engine", "--profile", "a10-fp16", "--profiles-dir", str(REPO / "profiles")]) == 3
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == ("ERROR cannot build a10-fp16 on this host: the tensorrt backend needs an NVIDIA GPU and this "
                        "host has none (nvidia-smi: not on PATH)")  # fmt: skip
    assert lines[1].startswith("TIP ") and "doctor" in lines[1] and "nvcr.io" not in "".join(lines)

"""Special and oversized files where the tool expects regular ones, outside what the bad-input corpus can
express: commands that succeed (``list``, ``doctor``) and a real published build with files swapped for a FIFO,
a device or a 3 GB sparse file (issue 11, classes 1, 2 and 8).  Every run has a timeout: a hang fails."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.faults.harness import (
    clone,
    folder_args,
    memory_limit,
    quiet_env,
    run_cli,
    unprivileged_prefix,
    user_error_problems,
    write_tiny_profiles,
)

GIB3 = 3 << 30


def _hostile_profiles(folder: Path) -> Path:
    write_tiny_profiles(folder, "tiny")
    os.mkfifo(folder / "pipe.yaml")
    (folder / "zero.yaml").symlink_to("/dev/zero")
    with open(folder / "big.yaml", "wb") as handle:
        handle.truncate(GIB3)
    (folder / "dir.yaml").mkdir()
    return folder


@pytest.mark.parametrize("command", [["list"], ["doctor"]])
def test_listing_commands_name_special_and_huge_profiles_without_reading_them(
    tmp_path: Path, command: list[str]
) -> None:
    profiles = _hostile_profiles(tmp_path / "profiles")
    result = run_cli(
        [*command, "--profiles-dir", str(profiles)],
        cwd=tmp_path,
        env=quiet_env(tmp_path),
        preexec=memory_limit(1 << 30),
        timeout=30,
    )
    assert result.returncode == 0, result.describe()
    assert "Traceback" not in result.stdout + result.stderr, result.describe()
    lines = {
        line.split()[1] if line.startswith("profile ") else line.split()[0]: line
        for line in result.stdout.splitlines()
        if line.strip()
    }
    assert "FIFO" in lines["pipe"], result.describe()
    assert "character device" in lines["zero"], result.describe()
    assert f"{GIB3} bytes" in lines["big"] and "not read" in lines["big"], result.describe()
    assert "folder" in lines["dir"], result.describe()
    assert "INVALID" not in lines["tiny"] and "invalid" not in lines["tiny"], result.describe()


def _swap(path: Path, how: str) -> None:
    path.unlink()
    if how == "fifo":
        os.mkfifo(path)
    elif how == "dev-zero":
        path.symlink_to("/dev/zero")
    elif how == "sparse":
        with open(path, "wb") as handle:
            handle.truncate(GIB3)
    else:
        path.mkdir()


@pytest.mark.parametrize("name", ["SHA256SUMS", "model.onnx", "metadata.json"])
@pytest.mark.parametrize("how", ["fifo", "dev-zero", "sparse", "folder"])
def test_verify_of_a_build_with_a_file_swapped_for_a_special_or_huge_one_is_no_go(
    published_tiny: Path, tmp_path: Path, name: str, how: str
) -> None:
    root = clone(published_tiny, tmp_path / "ws")
    build = (root / "artifacts" / "tiny" / "latest").resolve()
    files = {p.name: p for p in build.rglob("*") if p.is_file()}
    target = files.get(name) or next(p for p in files.values() if p.name.startswith(name.split(".")[0]))
    _swap(target, how)
    result = run_cli(
        ["verify", "--no-run", str(build)], cwd=root, env=quiet_env(root), preexec=memory_limit(2 << 30), timeout=60
    )
    problems = user_error_problems(result, exit_code=5, contains=[target.name])
    assert not problems, "\n".join(problems) + "\n" + result.describe()


def test_leftovers_that_cannot_be_removed_are_not_reported_removed(published_tiny: Path, tmp_path: Path) -> None:
    root = clone(published_tiny, tmp_path / "ws")
    stuck = root / "artifacts" / "tiny" / ".staging" / "20200101T000000Z-deadbeefdead" / "locked"
    stuck.mkdir(parents=True)
    (stuck / "file").write_text("x")
    stuck.chmod(0o555)
    gone = root / "artifacts" / "tiny" / ".staging" / "20200101T000001Z-deadbeefdead"
    gone.mkdir()
    try:
        result = run_cli(
            ["build", "--profile", "tiny", *folder_args(root)],
            cwd=root,
            env=quiet_env(root),
            prefix=unprivileged_prefix(),
            timeout=300,
        )
    finally:
        stuck.chmod(0o755)
    assert result.returncode == 0, result.describe()
    assert "removed the leftovers of an interrupted build: .staging/20200101T000001Z-deadbeefdead" in result.stdout
    assert "removed the leftovers of an interrupted build: .staging/20200101T000000Z" not in result.stdout, (
        result.describe()
    )
    assert (
        "could not remove the leftovers of an interrupted build: .staging/20200101T000000Z-deadbeefdead"
        in result.stdout
    )
    assert not gone.exists() and stuck.exists()

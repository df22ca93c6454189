"""Builds started together: the same profile never corrupts itself (one refuses with exit 6, or queues with
``--wait`` and then reports up to date); different profiles build side by side."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.harness import (
    CliResult,
    folder_args,
    incomplete_builds,
    latest_target,
    quiet_env,
    user_error_problems,
    write_tiny_profiles,
)

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Finished:
    result: CliResult
    finished_at: float


def _run_together(root: Path, argvs: list[list[str]]) -> list[Finished]:
    """Start every ``python -m builder ARGV`` at once; wait for all; note when each ended."""
    env = quiet_env(root)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "builder", *argv],
            cwd=root,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for argv in argvs
    ]
    ended: dict[int, float] = {}
    while len(ended) < len(procs):
        for index, proc in enumerate(procs):
            if index not in ended and proc.poll() is not None:
                ended[index] = time.monotonic()
        time.sleep(0.02)
    finished = []
    for index, (proc, argv) in enumerate(zip(procs, argvs)):
        out, err = proc.communicate()
        finished.append(Finished(CliResult(tuple(argv), proc.returncode, out, err), ended[index]))
    return finished


def _assert_one_whole_build(root: Path, profile: str) -> Path:
    profile_dir = root / "artifacts" / profile
    builds = sorted((profile_dir / "builds").iterdir())
    assert len(builds) == 1, builds
    assert incomplete_builds(profile_dir) == []
    assert latest_target(profile_dir) == builds[0].resolve()
    staging = profile_dir / ".staging"
    assert not staging.exists() or list(staging.iterdir()) == []
    return builds[0]


def test_same_profile_twice_one_refuses_while_another_profile_builds_alongside(tmp_path: Path) -> None:
    write_tiny_profiles(tmp_path / "profiles", "tiny-a", "tiny-b")
    args = folder_args(tmp_path)
    first, second, other = _run_together(
        tmp_path,
        [
            ["build", "--profile", "tiny-a", *args],
            ["build", "--profile", "tiny-a", *args],
            ["build", "--profile", "tiny-b", *args],
        ],
    )
    by_code = sorted([first, second], key=lambda f: f.result.returncode)
    winner, refused = by_code
    assert winner.result.returncode == 0, winner.result.describe()
    problems = user_error_problems(refused.result, exit_code=6, contains=["another build", "tiny-a"])
    assert not problems, "\n".join(problems) + "\n" + refused.result.describe()
    assert "--wait" in refused.result.stderr
    assert refused.finished_at < winner.finished_at, "the refusal must come at once, not after the other build"
    assert other.result.returncode == 0, other.result.describe()
    built_a = _assert_one_whole_build(tmp_path, "tiny-a")
    assert f"BUILT tiny-a: {built_a}" in winner.result.stdout
    built_b = _assert_one_whole_build(tmp_path, "tiny-b")
    assert f"BUILT tiny-b: {built_b}" in other.result.stdout


def test_same_profile_with_wait_queues_then_reports_up_to_date(tmp_path: Path) -> None:
    write_tiny_profiles(tmp_path / "profiles", "tiny")
    argv = ["build", "--profile", "tiny", "--wait", *folder_args(tmp_path)]
    runs = _run_together(tmp_path, [argv, argv])
    for run in runs:
        assert run.result.returncode == 0, run.result.describe()
    built = [r for r in runs if r.result.stdout.rstrip().splitlines()[-1].startswith("BUILT")]
    queued = [r for r in runs if r.result.stdout.rstrip().splitlines()[-1].startswith("UP-TO-DATE")]
    assert len(built) == 1 and len(queued) == 1, [r.result.stdout[-300:] for r in runs]
    build_dir = _assert_one_whole_build(tmp_path, "tiny")
    # no build existed when both started: reporting the other's build proves the queued one waited for it
    assert f"BUILT tiny: {build_dir}" in built[0].result.stdout
    assert f"UP-TO-DATE tiny: {build_dir}" in queued[0].result.stdout

"""SIGKILL a real build inside every stage: nothing partial is published, ``latest`` keeps pointing at the complete
earlier build, and the next build succeeds and clears the leftovers.

SIGKILL gives the build no chance to clean up (unlike Ctrl-C or ``docker stop``): what protects the artifacts
folder is the staging folder plus the atomic renames of publish.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import (
    CliResult,
    clone,
    folder_args,
    incomplete_builds,
    latest_target,
    quiet_env,
    run_cli,
    start_paused_build,
)
from tests.faults.paused_build import POINTS

pytestmark = pytest.mark.slow

PROFILE = "tiny"
CLEANUP_LINE = "removed the leftovers of an interrupted build"


def _builds(profile_dir: Path) -> set[str]:
    builds = profile_dir / "builds"
    return {p.name for p in builds.iterdir()} if builds.is_dir() else set()


def _staging(profile_dir: Path) -> list[Path]:
    staging = profile_dir / ".staging"
    return sorted(staging.iterdir()) if staging.is_dir() else []


def _wait(predicate: Callable[[], bool], proc: subprocess.Popen[str], what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc.poll() is not None:
            out, err = (text or "" for text in proc.communicate())
            pytest.fail(f"the build exited ({proc.returncode}) before {what}\n{out[-2000:]}\n{err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def _assert_nothing_partial(profile_dir: Path, earlier: Path, builds_before: set[str], *, renamed: bool) -> None:
    assert incomplete_builds(profile_dir) == [], "a build folder under builds/ is not whole"
    assert latest_target(profile_dir) == earlier, "latest must still point at the complete earlier build"
    new = _builds(profile_dir) - builds_before
    if renamed:  # killed between the rename and the switch of latest: a whole build, just not latest yet
        assert len(new) == 1, new
    else:
        assert new == set(), f"a killed build appeared under builds/: {new}"


def _next_build_succeeds(root: Path, profile_dir: Path, expect_cleanup: bool) -> CliResult:
    result = run_cli(["build", "--profile", PROFILE, "--force", *folder_args(root)], cwd=root, env=quiet_env(root))
    assert result.returncode == 0, result.describe()
    assert (CLEANUP_LINE in result.stdout) == expect_cleanup, result.describe()
    assert _staging(profile_dir) == [], "the next build must leave .staging empty"
    latest = latest_target(profile_dir)
    assert latest is not None and latest.name in result.stdout, result.describe()
    assert incomplete_builds(profile_dir) == []
    return result


@pytest.mark.parametrize("point", POINTS)
def test_sigkill_at_each_point_leaves_nothing_partial(point: str, tmp_path: Path, published_tiny: Path) -> None:
    root = clone(published_tiny, tmp_path / "ws")
    profile_dir = root / "artifacts" / PROFILE
    earlier, builds_before = latest_target(profile_dir), _builds(profile_dir)
    assert earlier is not None
    marker = root / "paused.json"
    _, proc = start_paused_build(root, point, PROFILE, marker)
    _wait(marker.exists, proc, f"the build reached {point}")
    assert json.loads(marker.read_text())["pid"] == proc.pid
    if point != "latest":  # the build in flight lives in staging only
        manifests = [p / "manifest.json" for p in _staging(profile_dir) if (p / "manifest.json").is_file()]
        assert len(manifests) == 1, _staging(profile_dir)
        stages = {s["name"]: s["status"] for s in json.loads(manifests[0].read_text())["stages"]}
        assert point == "publish" or stages[point] == "running", stages
    _kill(proc)
    _assert_nothing_partial(profile_dir, earlier, builds_before, renamed=point == "latest")
    _next_build_succeeds(root, profile_dir, expect_cleanup=point != "latest")


def test_sigkill_during_export_without_any_hook(tmp_path: Path, published_tiny: Path) -> None:
    """The same, timed only by what an unmodified build reports: its staging manifest says export is running, then
    the export prints that it hands the model to ultralytics (the conversion and the output check follow)."""
    root = clone(published_tiny, tmp_path / "ws")
    profile_dir = root / "artifacts" / PROFILE
    earlier, builds_before = latest_target(profile_dir), _builds(profile_dir)
    argv = [sys.executable, "-m", "builder", "build", "--profile", PROFILE, "--force", *folder_args(root)]
    env = {**quiet_env(root), "PYTHONUNBUFFERED": "1"}  # its progress lines as they are printed
    proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def export_running() -> bool:
        for folder in _staging(profile_dir):
            try:
                stages = json.loads((folder / "manifest.json").read_text())["stages"]
            except (OSError, ValueError, KeyError):
                continue
            if stages[0]["status"] == "running":
                return True
        return False

    _wait(export_running, proc, "the export stage started")
    assert proc.stdout is not None
    converting = next((line for line in proc.stdout if line.startswith("export: ultralytics -> ONNX")), None)
    assert converting is not None, "the build ended without the export's conversion line"
    assert export_running(), "the export stage ended at its conversion line: the kill would not land in export"
    _kill(proc)
    assert earlier is not None
    _assert_nothing_partial(profile_dir, earlier, builds_before, renamed=False)
    _next_build_succeeds(root, profile_dir, expect_cleanup=True)

"""SIGINT and SIGTERM at any instant of a real build: a dense sweep of kill times, not one per stage.

One workspace (a copy of the shared published ``tiny`` build) takes a forced build per instant, each signalled
at its own moment, SIGINT and SIGTERM alternating: from the moment the tool's code takes over the signals
(``builder/__main__.py``, while it is still importing itself) through ``import torch`` and every stage to the end
of publish. Each run must end with exit
130 (SIGINT) or 143 (SIGTERM) and exactly one ERROR and one TIP line, no traceback and no C++ abort; the ERROR
says truthfully what was published (checked against the tree); ``.staging`` is empty; a build id is in
``builds/`` or ``failed/``, never both; every folder under ``builds/`` verifies. Each run starts from what the
previous one left, and after the sweep a plain build succeeds. Two more runs signal inside the publish step at
fixed points (before the rename; between the rename and the switch of ``latest``) through
tests/faults/paused_build.py.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import datetime
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
    user_error_problems,
)

pytestmark = pytest.mark.slow

PROFILE = "tiny"
EARLY = (0.0, 0.1, 0.25, 0.5, 0.8)  # seconds after the handler is in place: the tool's imports, profile, key
SPREAD = 11  # more instants spread evenly over the measured length of a build, past its end


def _build_seconds(root: Path) -> float:
    """How long the shared published build took, from its manifest (the sweep spreads its instants over it)."""
    target = latest_target(root / "artifacts" / PROFILE)
    assert target is not None
    manifest = json.loads((target / "manifest.json").read_text())
    start, end = (datetime.fromisoformat(manifest[key].replace("Z", "+00:00")) for key in ("created_at", "finished_at"))
    return (end - start).total_seconds()


def instants(build_seconds: float) -> list[tuple[signal.Signals, float]]:
    """The sweep: early instants, then SPREAD evenly over [1.2 s, start-up + build + 15 %]; signals alternate."""
    end = 1.2 + build_seconds * 1.15
    times = [*EARLY, *(1.2 + (end - 1.2) * i / (SPREAD - 1) for i in range(SPREAD))]
    return [(signal.SIGINT if i % 2 == 0 else signal.SIGTERM, t) for i, t in enumerate(times)]


def _tree(profile_dir: Path) -> dict[str, set[str]]:
    return {
        name: {p.name for p in (profile_dir / name).iterdir()} if (profile_dir / name).is_dir() else set()
        for name in ("builds", "failed", ".staging")
    }


def _catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a handler for SIGTERM (the ``SigCgt`` mask of /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


def _signal_at(argv: list[str], root: Path, sig: signal.Signals, at: float) -> tuple[CliResult, bool]:
    """Run ``argv``; send ``sig`` ``at`` seconds after the tool's own code took over the signals (before that the
    interpreter itself is starting: no program can act on a signal there). Returns the result and whether it was
    sent."""
    proc = subprocess.Popen(
        argv, cwd=root, env=quiet_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    while proc.poll() is None and not _catches_sigterm(proc.pid):
        time.sleep(0.005)
    deadline = time.monotonic() + at
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    sent = proc.poll() is None
    if sent:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return CliResult(tuple(argv), proc.returncode, out, err), sent


def judge(
    result: CliResult, sig: signal.Signals, profile_dir: Path, before: dict[str, set[str]], latest_before: Path | None
) -> list[str]:
    """Why the run is not a clean, truthful interruption (empty when it is)."""
    problems = user_error_problems(result, exit_code=128 + sig, contains=[f"interrupted by {sig.name}"])
    if "terminate called" in result.stderr or "Aborted" in result.stderr:
        problems.append("a C++ abort")
    after = _tree(profile_dir)
    new_builds = after["builds"] - before["builds"]
    if after[".staging"]:
        problems.append(f".staging is not empty: {sorted(after['.staging'])}")
    if after["builds"] & after["failed"]:
        problems.append(f"both succeeded and failed: {sorted(after['builds'] & after['failed'])}")
    problems += [f"not whole: {bad}" for bad in incomplete_builds(profile_dir)]
    error = next((line for line in result.stderr.splitlines() if line.startswith("ERROR ")), "")
    latest = latest_target(profile_dir)
    if "nothing was published" in error:
        if new_builds or latest != latest_before:
            problems.append(f"says nothing was published, but builds/ gained {sorted(new_builds)}, latest -> {latest}")
    elif "already been published" in error:
        if len(new_builds) != 1 or latest is None or latest.name not in new_builds or latest.name not in error:
            problems.append(f"says published, but builds/ gained {sorted(new_builds)}, latest -> {latest}")
    else:
        problems.append(f"the ERROR line does not say what was published: {error!r}")
    return problems


def test_a_dense_sweep_of_sigint_and_sigterm_instants(tmp_path: Path, published_tiny: Path) -> None:
    root = clone(published_tiny, tmp_path / "ws")
    profile_dir = root / "artifacts" / PROFILE
    argv = [sys.executable, "-m", "builder", "build", "--profile", PROFILE, "--force", *folder_args(root)]
    sweep = instants(_build_seconds(root))
    assert len(sweep) >= 15
    failures, sent = [], 0
    for sig, at in sweep:
        before, latest_before = _tree(profile_dir), latest_target(profile_dir)
        result, was_sent = _signal_at(argv, root, sig, at)
        if not was_sent:  # the build had finished already: nothing to judge but its success
            assert result.returncode == 0, result.describe()
            continue
        sent += 1
        problems = judge(result, sig, profile_dir, before, latest_before)
        if problems:
            failures.append(f"{sig.name} at {at:.2f}s: " + "; ".join(problems) + "\n" + result.describe()[-1500:])
    assert not failures, "\n\n".join(failures)
    # the later instants may miss when this machine runs faster than when the build was timed; the early ones and
    # those in the first half of the measured build must land
    assert sent >= len(EARLY) + SPREAD // 2, f"only {sent} of {len(sweep)} instants landed inside a build"
    rerun = run_cli(["build", "--profile", PROFILE, *folder_args(root)], cwd=root, env=quiet_env(root))
    assert rerun.returncode == 0, rerun.describe()
    assert _tree(profile_dir)[".staging"] == set()


@pytest.mark.parametrize(
    ("point", "sig"), [("publish", signal.SIGINT), ("latest", signal.SIGTERM)], ids=["publish-SIGINT", "latest-SIGTERM"]
)
def test_a_signal_inside_publish_says_what_was_published(
    point: str, sig: signal.Signals, tmp_path: Path, published_tiny: Path
) -> None:
    """``publish``: after SHA256SUMS, before the rename: nothing published. ``latest``: between the rename and the
    switch of ``latest``: the switch completes first, then the build ends saying it was published."""
    root = clone(published_tiny, tmp_path / "ws")
    profile_dir = root / "artifacts" / PROFILE
    before, latest_before = _tree(profile_dir), latest_target(profile_dir)
    marker = root / "paused.json"
    argv, proc = start_paused_build(root, point, PROFILE, marker)
    deadline = time.monotonic() + 180
    while not marker.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    result = CliResult(tuple(argv), proc.returncode, out, err)
    problems = judge(result, sig, profile_dir, before, latest_before)
    assert not problems, "\n".join(problems) + "\n" + result.describe()
    published = "already been published" in err
    assert published == (point == "latest"), result.describe()

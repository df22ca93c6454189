"""SIGINT and SIGTERM at any instant of a real build: a dense sweep of signal instants, not one per stage.

One workspace (a copy of the shared published ``tiny`` build) takes a forced build per instant, each signalled
at its own moment, SIGINT and SIGTERM alternating. The instants come from the build's own progress, never from a
clock: a reference build (unsignalled) lists the progress lines the CLI prints as it goes, a stage starting
(``[export] started``) or a stage's own line (``export: loading …``); each instant is "when line N appears" (the
signal goes at once), from the moment the tool's code takes over the signals (``builder/__main__.py``, while it is
still importing itself) through ``import torch`` and every stage to publish: each stage's start, each line of a
stage that takes a second or more, and "half-way to the next line" inside the long steps. Each run must end with
exit 130 (SIGINT) or 143 (SIGTERM) and exactly one ERROR and one TIP line, no traceback and no C++ abort; the ERROR
says truthfully what was published (checked against the tree); ``.staging`` is empty; a build id is in
``builds/`` or ``failed/``, never both; every folder under ``builds/`` verifies. Each run starts from what the
previous one left, and after the sweep a plain build succeeds. Two more runs signal inside the publish step at
fixed points (before the rename; between the rename and the switch of ``latest``) through
tests/faults/paused_build.py.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.pipeline.stages import STAGE_NAMES
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
#: a progress line of the build: a stage starting, or a stage's own line ("export: …"), as the pipeline logs them
PROGRESS = re.compile(rf"^(\[({'|'.join(STAGE_NAMES)})\] started|({'|'.join(STAGE_NAMES)}): )")
HANDLER = "(the signal handler is in place)"  # the instant before any progress line
#: progress lines after which the build has at least one stage of real work left (verify, benchmark, publish): a
#: signal sent when one appears lands inside the build however busy the machine is, since the build slows with it
MUST_LAND_BEFORE = "[benchmark] started"
LONG_STEP_S = 1.0  # a step at least this long in the reference build also gets an instant half-way through it


@dataclass(frozen=True)
class Instant:
    """Signal ``sig`` when progress line ``anchor`` (0: the handler) appears, or ``fraction`` of the reference
    build's time from it to the next line later."""

    sig: signal.Signals
    anchor: int
    line: str
    fraction: float = 0.0

    def __str__(self) -> str:
        where = f"{self.fraction:.0%} of the way from {self.line!r}" if self.fraction else f"at {self.line!r}"
        return f"{self.sig.name} {where}"


@dataclass(frozen=True)
class Run:
    result: CliResult
    sent: bool
    progress: list[tuple[str, float]]  # the progress lines seen, each with its seconds since the handler


def _catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has a handler for SIGTERM (the ``SigCgt`` mask of /proc/PID/status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    mask = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


def _run(argv: list[str], root: Path, instant: Instant | None = None, gaps: list[float] | None = None) -> Run:
    """Run ``argv`` (stdout unbuffered, read line by line); signal at ``instant`` (None: never).

    Before the tool's own code took over the signals the interpreter itself is starting: no program can act on a
    signal there, so every instant counts from the handler."""
    with tempfile.TemporaryFile("w+") as stderr:
        env = {**quiet_env(root), "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        assert proc.stdout is not None
        while proc.poll() is None and not _catches_sigterm(proc.pid):
            time.sleep(0.002)
        start = time.monotonic()
        lines: list[str] = []
        progress: list[tuple[str, float]] = []
        while instant is None or len(progress) < instant.anchor:
            line = proc.stdout.readline()
            if not line:
                break  # the build ended first
            lines.append(line)
            if PROGRESS.match(line):
                progress.append((line.rstrip("\n"), time.monotonic() - start))
        if instant is not None and instant.fraction and gaps:
            time.sleep(instant.fraction * gaps[instant.anchor])  # a share of the reference build's step, no more
        sent = instant is not None and proc.poll() is None
        if sent and instant is not None:
            proc.send_signal(instant.sig)
        rest, _ = proc.communicate(timeout=300)
        stderr.seek(0)
        result = CliResult(tuple(argv), proc.returncode, "".join(lines) + rest, stderr.read())
    return Run(result, sent, progress)


def _stage(line: str) -> str:
    match = PROGRESS.match(line)
    assert match is not None, line
    return match.group(2) or match.group(3)


def instants(progress: list[tuple[str, float]]) -> tuple[list[Instant], list[float]]:
    """The sweep over a reference build's progress lines: the handler, each stage's start, every line of a stage
    that took LONG_STEP_S or more (the export: ``import torch``, the conversion, the check), and half-way through
    every step of LONG_STEP_S or more; SIGINT and SIGTERM alternate. Also the reference's step lengths."""
    names = [HANDLER, *(line for line, _ in progress)]
    times = [0.0, *(seconds for _, seconds in progress)]
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)] + [0.0]
    started = {_stage(line): seconds for line, seconds in progress if line.endswith("] started")}
    ends = sorted(started.values())[1:] + [times[-1]]
    long_stages = {name for (name, start), end in zip(started.items(), ends, strict=True) if end - start >= LONG_STEP_S}
    spots = [(0, 0.0)] + [
        (anchor, 0.0)
        for anchor, line in enumerate(names[1:], start=1)
        if line.endswith("] started") or _stage(line) in long_stages
    ]
    spots += [(anchor, 0.5) for anchor, gap in enumerate(gaps) if gap >= LONG_STEP_S]
    sigs = (signal.SIGINT, signal.SIGTERM)
    return [Instant(sigs[i % 2], anchor, names[anchor], f) for i, (anchor, f) in enumerate(sorted(spots))], gaps


def _tree(profile_dir: Path) -> dict[str, set[str]]:
    return {
        name: {p.name for p in (profile_dir / name).iterdir()} if (profile_dir / name).is_dir() else set()
        for name in ("builds", "failed", ".staging")
    }


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
    reference = _run(argv, root)
    assert reference.result.returncode == 0, reference.result.describe()
    sweep, gaps = instants(reference.progress)
    lines = [line for line, _ in reference.progress]
    assert lines[0] == "[export] started" and MUST_LAND_BEFORE in lines and len(sweep) >= 12, lines
    must_land = lines.index(MUST_LAND_BEFORE)  # anchors 0..must_land: the handler and the lines before it
    failures, missed = [], []
    for instant in sweep:
        before, latest_before = _tree(profile_dir), latest_target(profile_dir)
        run = _run(argv, root, instant, gaps)
        if not run.sent:  # the build had finished already: nothing to judge but its success
            assert run.result.returncode == 0, run.result.describe()
            if instant.anchor <= must_land and not instant.fraction:
                missed.append(str(instant))
            continue
        problems = judge(run.result, instant.sig, profile_dir, before, latest_before)
        if problems:
            failures.append(f"{instant}: " + "; ".join(problems) + "\n" + run.result.describe()[-1500:])
    assert not failures, "\n\n".join(failures)
    assert not missed, f"the build ended before these instants, which have a stage of work after them: {missed}"
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

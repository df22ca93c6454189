"""Helpers of the fault suite: run the real CLI in a subprocess, judge its error output, inspect the artifacts folder.

Everything here drives ``python -m builder`` exactly as a user would (a fresh
process, real files); nothing is faked.  Sandboxes reproduce environment faults
for real: a private mount namespace with a read-only bind mount or a tiny
tmpfs, a process without the capabilities that let root ignore file modes.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"

#: root keeps these capabilities unless dropped; without them file modes bind root as they bind everyone
DAC_CAPABILITIES = "-dac_override,-dac_read_search,-fowner"


def is_root() -> bool:
    return os.geteuid() == 0


def quiet_env(scratch: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: no installs, no downloads, builder importable, no inherited paths."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_FOUNDRY_", "DOCKER_"))}
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env.update(
        YOLO_AUTOINSTALL="false",
        YOLO_OFFLINE="1",
        POLYGRAPHY_AUTOINSTALL_DEPS="0",
        YOLO_CONFIG_DIR=str(scratch / "yolo-config"),
        PYTHONPATH=pythonpath,
        PYTHONDONTWRITEBYTECODE="1",
    )
    if "DOCKER_HOST" in os.environ:  # the suite's own engine (e.g. set by .ci/run), unless a case overrides it
        env["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    env.update(extra or {})
    return env


def folder_args(root: Path) -> list[str]:
    """The CLI's four folder options, all under ``root``."""
    return [
        "--profiles-dir",
        str(root / "profiles"),
        "--artifacts",
        str(root / "artifacts"),
        "--models",
        str(root / "models"),
        "--cache-dir",
        str(root / "cache"),
    ]


def start_paused_build(root: Path, point: str, profile: str, marker: Path) -> tuple[list[str], subprocess.Popen[str]]:
    """A real ``build --force`` of ``profile`` in ``root`` that writes ``marker`` and waits at ``point``
    (tests/faults/paused_build.py); its argv and process."""
    argv = [sys.executable, "-m", "tests.faults.paused_build", point, str(marker),
            "build", "--profile", profile, "--force", *folder_args(root)]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=root, env=quiet_env(root), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    return argv, proc


def clone(source: Path, target: Path) -> Path:
    """A private copy of a workspace (symlinks such as ``latest`` kept as links)."""
    shutil.copytree(source, target, symlinks=True)
    return target


def write_tiny_profiles(folder: Path, *names: str) -> Path:
    """``cpu-fp32`` and its base copied from the repository, plus the tiny profile (tests/data/profiles) per name."""
    from tests.support import copy_profiles, write_tiny_profile

    copy_profiles(folder, ("cpu-fp32.yaml", "_yolo11n-640.yaml"))
    for name in names:
        write_tiny_profile(folder, name)
    return folder


@dataclass(frozen=True)
class CliResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\n-> exit {self.returncode}\n--- stdout (tail)\n{self.stdout[-3000:]}"
            f"\n--- stderr (tail)\n{self.stderr[-3000:]}"
        )


def builder_argv(argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "builder", *argv]


def run_cli(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    prefix: Sequence[str] = (),
    preexec: Callable[[], None] | None = None,
    timeout: float = 300,
) -> CliResult:
    """Run ``python -m builder ARGV`` (behind ``prefix``, e.g. a sandbox) and capture everything."""
    full = [*prefix, *builder_argv(argv)]
    proc = subprocess.run(
        full, cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=timeout, preexec_fn=preexec
    )
    return CliResult(tuple(full), proc.returncode, proc.stdout, proc.stderr)


# ----------------------------------------------------------------------------------------------------------------
# sandboxes: real faults, no mocks


def unprivileged_prefix() -> list[str]:
    """Run as this user without root's file-mode override (a no-op for a non-root user)."""
    if not is_root():
        return []
    return ["setpriv", "--inh-caps=-all", f"--bounding-set={DAC_CAPABILITIES}"]


def readonly_mount_prefix(folder: Path) -> list[str]:
    """A private mount namespace where ``folder`` is a read-only bind mount of itself (EROFS). Root only."""
    script = 'set -e; mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; shift; exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder)]


def tmpfs_prefix(folder: Path, size: str, snapshot: Path) -> list[str]:
    """A private mount namespace where ``folder`` is a tmpfs of ``size`` (ENOSPC when full). Root only.

    The tmpfs vanishes with the namespace, so its content is copied to ``snapshot`` after the command.
    """
    script = (
        'set -e; mount -t tmpfs -o "size=$2" tmpfs "$1"; dir="$1"; snap="$3"; shift 3; set +e; "$@"; rc=$?; '
        'cp -a "$dir/." "$snap/"; exit $rc'
    )
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        str(folder),
        size,
        str(snapshot),
    ]


def file_size_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` capping every file the process writes (RLIMIT_FSIZE; writes past it fail with EFBIG)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return apply


def memory_limit(limit_bytes: int) -> Callable[[], None]:
    """A ``preexec_fn`` capping the process's address space (RLIMIT_AS): reading a huge file whole fails."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))

    return apply


# ----------------------------------------------------------------------------------------------------------------
# judging the output


ERROR_RE = re.compile(r"^ERROR (?P<text>.*\S.*)$")
TIP_RE = re.compile(r"^TIP (?P<text>.*\S.*)$")


def user_error_problems(
    result: CliResult,
    *,
    exit_code: int,
    contains: Sequence[str] = (),
    tip: bool = True,
    several_errors: bool = False,
) -> list[str]:
    """Why ``result`` is not a clean user-facing failure (empty when it is).

    A clean failure: exactly the expected exit code; no traceback anywhere; stderr
    ends with one ``ERROR`` line (several only when ``several_errors``: profile
    problems) followed by one ``TIP`` line; every ``contains`` text appears in the
    ERROR lines.
    """
    problems = []
    if result.returncode != exit_code:
        problems.append(f"exit code {result.returncode}, expected {exit_code}")
    if "Traceback (most recent call last)" in result.stdout + result.stderr:
        problems.append("a traceback was printed")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_RE.match(line)]
    tips = [line for line in lines if TIP_RE.match(line)]
    if not errors:
        problems.append("no ERROR line on stderr")
    elif len(errors) > 1 and not several_errors:
        problems.append(f"{len(errors)} ERROR lines, expected one: {errors}")
    if tip and len(tips) != 1:
        problems.append(f"{len(tips)} TIP lines, expected one")
    if errors and tips:
        block = lines[lines.index(errors[0]) :]
        if block[-1] != tips[-1]:
            problems.append(f"stderr does not end with the TIP line: {block[-3:]}")
        if any(not (ERROR_RE.match(line) or TIP_RE.match(line)) for line in block):
            problems.append(f"other output between the ERROR and TIP lines: {block}")
    text = "\n".join(errors)
    for needle in contains:
        if needle.lower() not in text.lower():
            problems.append(f"the ERROR lines do not mention {needle!r}")
    return problems


# ----------------------------------------------------------------------------------------------------------------
# the artifacts folder


def partial_artifacts(artifacts: Path) -> list[str]:
    """Anything a failed command must not leave: a published build, ``latest``, staging content."""
    found: list[str] = []
    if not artifacts.is_dir():
        return found
    for profile_dir in sorted(p for p in artifacts.iterdir() if p.is_dir() and not p.is_symlink()):
        builds = profile_dir / "builds"
        if builds.is_dir() and any(builds.iterdir()):
            found.append(f"{builds}: {sorted(p.name for p in builds.iterdir())}")
        latest = profile_dir / "latest"
        if latest.is_symlink() or latest.exists():
            found.append(f"{latest} exists")
        staging = profile_dir / ".staging"
        if staging.is_dir() and any(staging.iterdir()):
            found.append(f"{staging}: {sorted(p.name for p in staging.iterdir())}")
    return found


def incomplete_builds(profile_dir: Path) -> list[str]:
    """Published builds of one profile that do not pass ``verify`` (checksums, manifest); empty when all are whole."""
    from builder.verify.artifact import verify_path

    bad = []
    builds = profile_dir / "builds"
    for build in sorted(builds.iterdir()) if builds.is_dir() else []:
        report = verify_path(build, run_inference=False)
        if not report.ok:
            bad.append(f"{build.name}: {[c.message for c in report.checks if c.status == 'fail']}")
    return bad


def latest_target(profile_dir: Path) -> Path | None:
    """The build folder ``latest`` points at (None when there is no ``latest``)."""
    link = profile_dir / "latest"
    if not link.is_symlink():
        return None
    return (profile_dir / os.readlink(link)).resolve()

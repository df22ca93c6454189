"""The artifacts tree in unexpected shapes: refused before any stage runs, exit 3, the path named, nothing changed.

Each case changes a copy of a real artifacts folder (the shared published ``tiny`` build) the way copies,
restores and mounts do, then runs ``build --force``: it must stop before the export with one ERROR naming the
path (never ``.staging``) and one TIP, leave the tree as it was (no new build, no failed record, no stray
``.latest-*``), and, once the TIP is followed, build.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.harness import (
    clone,
    folder_args,
    is_root,
    latest_target,
    quiet_env,
    run_cli,
    unprivileged_prefix,
    user_error_problems,
)

PROFILE = "tiny"


def _latest_copied(p: Path) -> tuple[Path, str]:  # what `cp -rL` makes of the link
    target = latest_target(p)
    assert target is not None
    (p / "latest").unlink()
    shutil.copytree(target, p / "latest")
    return p / "latest", "is a folder"


def _latest_file(p: Path) -> tuple[Path, str]:
    (p / "latest").unlink()
    (p / "latest").write_text("builds/x\n")
    return p / "latest", "is a file"


def _builds_file(p: Path) -> tuple[Path, str]:
    shutil.rmtree(p / "builds")
    (p / "latest").unlink()
    (p / "builds").write_text("")
    return p / "builds", "is a file where a folder is expected"


def _staging_file(p: Path) -> tuple[Path, str]:
    shutil.rmtree(p / ".staging", ignore_errors=True)
    (p / ".staging").write_text("")
    return p / ".staging", "is a file where a folder is expected"


def _read_only(name: str) -> Callable[[Path], tuple[Path, str]]:
    def make(p: Path) -> tuple[Path, str]:
        (p / name).mkdir(exist_ok=True)
        (p / name).chmod(0o555)
        return p / name, "is not writable"

    return make


def _other_file_system(p: Path) -> tuple[Path, str]:
    elsewhere = Path("/dev/shm") / f"ef-builds-{os.getpid()}"
    if not Path("/dev/shm").is_dir() or os.stat("/dev/shm").st_dev == os.stat(p).st_dev:
        pytest.skip("no second file system at /dev/shm")
    shutil.move(str(p / "builds"), elsewhere)
    (p / "builds").symlink_to(elsewhere)
    return p / "builds", "another file system"


CASES = {
    "latest-is-a-folder": (_latest_copied, False),
    "latest-is-a-folder-force": (_latest_copied, True),
    "latest-is-a-file": (_latest_file, True),
    "builds-is-a-file": (_builds_file, True),
    "staging-is-a-file": (_staging_file, True),
    "builds-read-only": (_read_only("builds"), True),
    "failed-read-only": (_read_only("failed"), True),
    "builds-on-another-file-system": (_other_file_system, True),
}


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if ".lock" not in p.name}


@pytest.mark.parametrize("name", list(CASES))
def test_an_unexpected_tree_is_refused_before_any_stage(name: str, tmp_path: Path, published_tiny: Path) -> None:
    make, force = CASES[name]
    root = clone(published_tiny, tmp_path / "ws")
    profile_dir = root / "artifacts" / PROFILE
    (profile_dir / ".staging").mkdir(exist_ok=True)
    (profile_dir / "failed").mkdir(exist_ok=True)
    path, problem = make(profile_dir)
    before = _snapshot(profile_dir)
    read_only = "read-only" in name
    if read_only and is_root() and not shutil.which("setpriv"):
        pytest.skip("root ignores file modes and setpriv is missing")
    argv = ["build", "--profile", PROFILE, *(["--force"] if force else []), *folder_args(root)]
    result = run_cli(argv, cwd=root, env=quiet_env(root), prefix=unprivileged_prefix() if read_only else ())
    try:
        problems = user_error_problems(result, exit_code=3, contains=[str(path), problem, "nothing was started"])
        if "[export] started" in result.stdout:
            problems.append("a stage ran")
        if _snapshot(profile_dir) != before:
            problems.append(f"the tree changed: {sorted(_snapshot(profile_dir) ^ before)}")
        assert not problems, "\n".join(problems) + "\n" + result.describe()
    finally:
        if read_only:
            path.chmod(0o755)
    if name == "builds-on-another-file-system":
        shutil.rmtree(os.readlink(path), ignore_errors=True)


def test_following_the_tip_for_a_copied_latest_builds(tmp_path: Path, published_tiny: Path) -> None:
    root = clone(published_tiny, tmp_path / "ws")
    profile_dir = root / "artifacts" / PROFILE
    latest, _ = _latest_copied(profile_dir)
    refused = run_cli(["build", "--profile", PROFILE, *folder_args(root)], cwd=root, env=quiet_env(root))
    assert refused.returncode == 3, refused.describe()
    latest.rename(profile_dir / "latest.copy")  # the TIP: move it away
    result = run_cli(["build", "--profile", PROFILE, *folder_args(root)], cwd=root, env=quiet_env(root))
    assert result.returncode == 0, result.describe()
    assert latest_target(profile_dir) is not None and (profile_dir / "latest.copy" / "manifest.json").is_file()
    builds, failed = ({p.name for p in (profile_dir / d).glob("*")} for d in ("builds", "failed"))
    assert not builds & failed and not list(profile_dir.glob(".latest-*"))

"""Retention: keep the newest N good builds per profile and the newest M failed ones.

The build ``latest`` points to is never removed, even when it is older than
the newest N (``run_build`` may repoint ``latest`` at an older, up-to-date
build). Folders in ``builds/`` whose manifest is unreadable or not
"succeeded" are left alone and reported: they are not ours to judge.
A removed folder is first renamed to a hidden name, so a half-deleted build
never looks like a build.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from builder.common.locking import profile_lock
from builder.errors import UsageError
from builder.record.layout import ArtifactLayout


@dataclass
class PruneResult:
    """What :func:`prune_profile` removed (or would remove) and kept."""

    profile: str
    removed: list[str] = field(default_factory=list)  # "builds/<id>" or "failed/<id>"
    kept: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # builds/ folders that are not good builds

    def to_dict(self) -> dict[str, list[str] | str]:
        return {"profile": self.profile, "removed": self.removed, "kept": self.kept, "ignored": self.ignored}


def check_retention(keep: int, keep_failed: int) -> None:
    """Raises UsageError for counts that would delete every build."""
    if keep < 1:
        raise UsageError(
            f"--keep {keep}: at least one good build must be kept", hint="pass --keep 1 or more (default 5)"
        )
    if keep_failed < 0:
        raise UsageError(
            f"--keep-failed {keep_failed}: must be 0 or more", hint="pass --keep-failed 0 to remove every failed build"
        )


def plan_prune(layout: ArtifactLayout, keep: int, keep_failed: int) -> PruneResult:
    """Decide what to remove without touching anything."""
    check_retention(keep, keep_failed)
    result = PruneResult(layout.profile)
    good = layout.good_builds()  # oldest first
    latest = layout.latest_dir()
    protected = {p.resolve() for p in good[-keep:]}
    if latest is not None:
        protected.add(latest.resolve())
    good_set = {p.resolve() for p in good}
    for path in sorted(layout.builds_dir.iterdir()) if layout.builds_dir.is_dir() else []:
        rel = f"builds/{path.name}"
        if path.resolve() not in good_set:
            result.ignored.append(rel)
        elif path.resolve() in protected:
            result.kept.append(rel)
        else:
            result.removed.append(rel)
    failed = sorted(p for p in layout.failed_dir.iterdir() if p.is_dir()) if layout.failed_dir.is_dir() else []
    cut = len(failed) - keep_failed
    for index, path in enumerate(failed):
        (result.removed if index < cut else result.kept).append(f"failed/{path.name}")
    return result


def prune_profile(
    layout: ArtifactLayout, keep: int, keep_failed: int, *, dry_run: bool = False, wait: bool = True
) -> PruneResult:
    """Remove old good and failed builds of one profile, holding the profile's build lock.

    Raises:
        UsageError: ``keep`` < 1 or ``keep_failed`` < 0.
        BusyError: a build of the profile is running and ``wait`` is False.
    """
    check_retention(keep, keep_failed)
    if not layout.profile_dir.is_dir():
        return PruneResult(layout.profile)
    with profile_lock(layout.lock_path, wait=wait):
        result = plan_prune(layout, keep, keep_failed)
        if not dry_run:
            for rel in result.removed:
                _remove(layout.profile_dir / rel)
    return result


def _remove(path: Path) -> None:
    trash = path.parent / f".trash-{path.name}-{os.getpid()}"
    os.rename(path, trash)
    shutil.rmtree(trash)

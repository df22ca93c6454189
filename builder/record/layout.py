"""ArtifactLayout: the only code that knows paths under the artifacts folder.

See docs/dev/architecture.md ("Artifacts layout").
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from builder.common.interrupts import deferred
from builder.common.safe_io import FileReadError
from builder.common.safe_io import read_json as _read_json_bounded
from builder.errors import HostEnvironmentError
from builder.record.manifest_read import ManifestView, view_or_none

MANIFEST_NAME = "manifest.json"
_BUILD_ID = re.compile(r"^\d{8}T\d{6}(\d{6})?Z-[0-9a-f]{12}$")


def new_build_id(build_key: str, now: datetime | None = None) -> str:
    """``<UTC yyyymmddTHHMMSSffffffZ>-<key[:12]>``: sortable by time, unique per key."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
    return f"{stamp}-{build_key[:12]}"


def read_json_or_none(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or None when missing or unreadable."""
    try:
        data = _read_json_bounded(path, what="JSON record")
    except (OSError, ValueError, FileReadError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class StagingCleanup:
    """What :meth:`ArtifactLayout.remove_stale_staging` did: names removed, (name, reason) pairs it could not remove."""

    removed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ArtifactLayout:
    """Paths of one profile's builds under ``root``."""

    root: Path
    profile: str

    @property
    def profile_dir(self) -> Path:
        return self.root / self.profile

    @property
    def builds_dir(self) -> Path:
        return self.profile_dir / "builds"

    @property
    def failed_dir(self) -> Path:
        return self.profile_dir / "failed"

    @property
    def staging_root(self) -> Path:
        return self.profile_dir / ".staging"

    @property
    def latest_link(self) -> Path:
        return self.profile_dir / "latest"

    @property
    def lock_path(self) -> Path:
        return self.profile_dir / ".lock"

    def build_dir(self, build_id: str) -> Path:
        return self.builds_dir / build_id

    def staging_dir(self, build_id: str) -> Path:
        return self.staging_root / build_id

    def latest_dir(self) -> Path | None:
        """The build folder ``latest`` points to, if it exists."""
        if not self.latest_link.is_symlink():
            return None
        target = (self.profile_dir / os.readlink(self.latest_link)).resolve()
        return target if target.is_dir() else None

    def latest_manifest(self) -> ManifestView | None:
        """The manifest of ``latest`` (None: no latest, or a manifest this builder does not read)."""
        latest = self.latest_dir()
        return view_or_none(latest / MANIFEST_NAME) if latest else None

    def good_builds(self) -> list[Path]:
        """Published build folders whose manifest says succeeded, oldest first."""
        if not self.builds_dir.is_dir():
            return []
        found = []
        for path in sorted(self.builds_dir.iterdir()):
            manifest = view_or_none(path / MANIFEST_NAME) if path.is_dir() else None
            if manifest is not None and manifest.succeeded:
                found.append(path)
        return found

    def find_build_with_key(self, build_key: str) -> Path | None:
        """The newest good build made with ``build_key``."""
        for path in reversed(self.good_builds()):
            manifest = view_or_none(path / MANIFEST_NAME)
            if manifest is not None and manifest.build_key == build_key:
                return path
        return None

    def newest_failed_manifest(self) -> ManifestView | None:
        if not self.failed_dir.is_dir():
            return None
        for path in sorted(self.failed_dir.iterdir(), reverse=True):
            manifest = view_or_none(path / MANIFEST_NAME)
            if manifest is not None:
                return manifest
        return None

    def point_latest_at(self, build_id: str) -> None:
        """Atomically repoint ``latest`` (a relative symlink) at a published build."""
        tmp = self.profile_dir / f".latest-{os.getpid()}-{time.monotonic_ns()}"
        os.symlink(os.path.join("builds", build_id), tmp)
        os.replace(tmp, self.latest_link)

    def check_tree(self) -> None:
        """Refuse, before any stage runs, a tree this build could not finish in (see :func:`check_tree`)."""
        check_tree(self)

    def remove_stale_staging(self) -> StagingCleanup:
        """Delete leftovers of killed builds; call only while holding the profile lock.

        A leftover is reported as removed only when it is gone; one that cannot be removed (a read-only or
        foreign-owned file inside it) is reported with the reason, and the build goes on beside it.
        """
        removed, failed = [], []
        if self.staging_root.is_dir():
            for path in sorted(self.staging_root.iterdir()):
                reason = "still present"
                for attempt in ("remove what can be removed", "learn why the rest cannot"):
                    try:
                        if path.is_dir() and not path.is_symlink():
                            shutil.rmtree(path, ignore_errors=attempt.startswith("remove"))
                        elif os.path.lexists(path):
                            path.unlink()
                    except OSError as err:
                        reason = f"{err.filename}: {err.strerror}" if err.filename else str(err)
                if os.path.lexists(path):
                    failed.append((path.name, reason))
                else:
                    removed.append(path.name)
        return StagingCleanup(tuple(removed), tuple(failed))


def check_tree(layout: ArtifactLayout) -> None:
    """The profile's part of the artifacts tree has the shape and permissions a build needs to finish.

    Checked before any stage runs (a problem found at publish time costs the whole build): the profile folder,
    ``builds/``, ``failed/`` and ``.staging/`` are folders (made when missing) on one file system (publishing is a
    rename), each writable; ``latest`` is absent or a link (a copy made with ``cp -rL`` or restored from a backup
    turns it into a folder, which is never replaced: it may be someone's only copy of a build).

    Raises:
        HostEnvironmentError: what is wrong, with the path, and how to fix it.
    """
    folders = (layout.profile_dir, layout.builds_dir, layout.failed_dir, layout.staging_root)
    for folder in folders:
        if folder.exists() and not folder.is_dir():
            raise HostEnvironmentError(
                f"{folder} is a file where a folder is expected; nothing was started",
                hint=f"move it away (mv {folder} {folder}.bak); the build makes the folder",
            )
    try:
        layout.staging_root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _not_writable(layout.root, err, f"artifacts folder {layout.root}") from None
    latest = layout.latest_link
    if latest.exists() and not latest.is_symlink():
        kind = "a folder" if latest.is_dir() else "a file"
        raise HostEnvironmentError(
            f"{latest} is {kind}, not the link to a build that Engine Foundry keeps there (copying or restoring an "
            "artifacts folder with `cp -rL` or a backup tool turns the link into a copy); nothing was started",
            hint=f"move it away (mv {latest} {latest}.copy) or remove it; the next build makes the link again",
        )
    device = layout.staging_root.stat().st_dev
    for folder in folders:
        if folder.is_dir() and folder.stat().st_dev != device:
            raise HostEnvironmentError(
                f"{folder} is on another file system than {layout.staging_root}; a build is published by renaming "
                "it from one to the other, which cannot cross file systems; nothing was started",
                hint="keep builds/, failed/ and .staging/ of a profile on one volume (link the whole artifacts folder)",
            )
        if folder.is_dir():
            try:
                with deferred():  # a signal waits until the probe is gone
                    os.rmdir(tempfile.mkdtemp(prefix=".probe-", dir=folder))
            except OSError as err:
                raise _not_writable(layout.root, err, str(folder)) from None


def _not_writable(root: Path, err: OSError, what: str) -> HostEnvironmentError:
    return HostEnvironmentError(
        f"{what} is not writable ({err.strerror}); nothing was started",
        hint=f"choose a writable folder with --artifacts, or fix the permissions of {root} "
        f"(chown -R {os.getuid()}:{os.getgid()})",
    )


def is_build_id(name: str) -> bool:
    """Whether ``name`` has the shape of a build id (``new_build_id``): a received build's folder name is checked."""
    return bool(_BUILD_ID.match(name))

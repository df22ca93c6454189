"""Host-side settings for a launch: absolute folders, the container user, and folder preparation.

The container runs as the host user (``uid:gid``) so that artifacts belong to
them.  Root on the host is the exception: the container then runs as the
image's unprivileged ``builder`` user (:data:`IMAGE_UID`), and the folders it
writes are handed to that user first.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from builder.errors import HostEnvironmentError
from builder.host.spec import HostSettings

IMAGE_UID = 1000  # the Dockerfile's BUILDER_UID


def container_user(uid: int | None = None, gid: int | None = None) -> str:
    """``uid:gid`` the container runs as: the host user's, or the image user's when the host user is root."""
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    return f"{IMAGE_UID}:{IMAGE_UID}" if uid == 0 else f"{uid}:{gid}"


def host_settings(
    profiles_dir: Path,
    models_dir: Path,
    artifacts_dir: Path,
    cache_dir: Path,
    *,
    image: str | None = None,
    gpus: str = "all",
    force: bool = False,
    allow_large: bool = False,
) -> HostSettings:
    """:class:`HostSettings` with absolute folders and the container user of this host."""
    return HostSettings(
        profiles_dir=profiles_dir.absolute(),
        models_dir=models_dir.absolute(),
        artifacts_dir=artifacts_dir.absolute(),
        cache_dir=cache_dir.absolute(),
        user=container_user(),
        image=image,
        gpus=gpus,
        force=force,
        allow_large=allow_large,
    )


def prepare_host_dirs(settings: HostSettings, profile_name: str, log: Callable[[str], None] = print) -> None:
    """Create the mounted folders and make the writable ones writable by the container user.

    Raises:
        HostEnvironmentError: a folder cannot be created, or the artifacts/cache folder is not writable
            by the host user (checked before any container starts).
    """
    for folder in (settings.models_dir, settings.artifacts_dir, settings.cache_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise HostEnvironmentError(f"cannot create {folder}: {err.strerror}", hint="create it yourself, or pass another folder") from None
    profile_dir = settings.artifacts_dir / profile_name
    for folder, option in ((settings.artifacts_dir, "--artifacts"), (profile_dir, "--artifacts"), (settings.cache_dir, "--cache-dir")):
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            raise HostEnvironmentError(
                f"{folder} is not writable by this user (uid {os.getuid()})",
                hint=f"fix its owner (`sudo chown -R $(id -u):$(id -g) {folder}`) or pass {option} DIR",
            )
    uid, gid = (int(part) for part in settings.user.split(":"))
    if os.getuid() == 0 and uid != 0:
        log(f"running as root: the container runs as uid {uid}; handing {settings.artifacts_dir} and {settings.cache_dir} to it")
        profile_dir.mkdir(exist_ok=True)
        os.chown(settings.artifacts_dir, uid, gid)
        for folder in (profile_dir, settings.cache_dir):
            _chown_tree(folder, uid, gid)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)

"""Host-side settings for a launch: absolute folders, the container user, and folder preparation.

The container runs as the invoking user (``uid:gid``) so that artifacts belong to
them (:func:`container_user`: under sudo the sudo user, as plain root the owner of
the artifacts folder, else the image user, never root); folders it writes are handed to that user first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from builder.errors import HostEnvironmentError
from builder.host.spec import HostSettings

IMAGE_UID = 1000  # the Dockerfile's BUILDER_UID (the image's default user; the launcher passes --user)


def container_user(
    uid: int | None = None,
    gid: int | None = None,
    *,
    artifacts_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``uid:gid`` the container runs as, so that the user can always delete their artifacts.

    The invoking user's; under ``sudo`` the user who ran sudo (``SUDO_UID``/``SUDO_GID``); as plain root the
    (non-root) owner of an existing artifacts folder, else the image's ``builder`` user (:data:`IMAGE_UID`):
    the container never runs as root (docs/dev/faults.md, container hardening), and root can delete any artifact anyway.
    """
    uid = os.getuid() if uid is None else uid
    gid = os.getgid() if gid is None else gid
    if uid != 0:
        return f"{uid}:{gid}"
    env = os.environ if environ is None else environ
    if env.get("SUDO_UID", "").isdigit() and env.get("SUDO_GID", "").isdigit():
        return f"{env['SUDO_UID']}:{env['SUDO_GID']}"
    if artifacts_dir is not None and artifacts_dir.is_dir() and artifacts_dir.stat().st_uid != 0:
        owner = artifacts_dir.stat()
        return f"{owner.st_uid}:{owner.st_gid}"
    return f"{IMAGE_UID}:{IMAGE_UID}"


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
        user=container_user(artifacts_dir=artifacts_dir.absolute()),
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
            raise HostEnvironmentError(
                f"cannot create {folder}: {err.strerror}", hint="create it yourself, or pass another folder"
            ) from None
    profile_dir = settings.artifacts_dir / profile_name
    for folder, option in (
        (settings.artifacts_dir, "--artifacts"),
        (profile_dir, "--artifacts"),
        (settings.cache_dir, "--cache-dir"),
    ):
        if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
            raise HostEnvironmentError(
                f"{folder} is not writable by this user (uid {os.getuid()})",
                hint=f"fix its owner (`sudo chown -R $(id -u):$(id -g) {folder}`) or pass {option} DIR",
            )
    uid, gid = (int(part) for part in settings.user.split(":"))
    if os.getuid() == 0 and uid != 0:
        log(
            f"running as root: the container runs as uid {uid}; "
            f"handing {settings.artifacts_dir} and {settings.cache_dir} to it"
        )
        profile_dir.mkdir(exist_ok=True)
        os.chown(settings.artifacts_dir, uid, gid)
        for folder in (profile_dir, settings.cache_dir):
            _chown_tree(folder, uid, gid)


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    os.chown(root, uid, gid, follow_symlinks=False)
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            os.chown(os.path.join(parent, name), uid, gid, follow_symlinks=False)

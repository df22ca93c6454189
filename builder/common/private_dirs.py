"""Every library's config and cache folder pointed at a temporary folder the command owns.

ultralytics writes ``~/.config/Ultralytics/settings.json`` at import, matplotlib ``~/.config/matplotlib``,
torch ``~/.cache/torch``, CUDA ``~/.nv``; with ``HOME`` unset, read-only or ``/nonexistent`` they fail or write
where nobody expects (as root: ``/nonexistent/home/...``).  :func:`private_library_dirs` sets ``HOME``, the XDG
folders and each library's own variable to subfolders of one fresh folder under the system temporary folder,
points ``TMPDIR`` there too, and removes it all when the command ends: a build writes only to the artifacts
folder, the cache folder and this folder.  It must run before the heavy libraries are imported (they read the
variables once); the CLI enters it before dispatching ``build`` and ``verify``.

A process killed with SIGKILL (the kill tests, ``kill -9``, the OOM killer) cannot remove its folder. The folder's
name carries its process ID (``engine-foundry-<pid>-…``), so the next command removes the folders of this user whose
process is gone (:func:`remove_stale_folders`) before it makes its own.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

from builder.common.interrupts import on_abort
from builder.errors import HostEnvironmentError

#: variable -> subfolder of the private folder
FOLDERS = {
    "HOME": "home",
    "XDG_CONFIG_HOME": "config",
    "XDG_CACHE_HOME": "cache",
    "XDG_DATA_HOME": "data",
    "XDG_STATE_HOME": "state",
    "YOLO_CONFIG_DIR": "config/Ultralytics",  # ultralytics settings.json
    "MPLCONFIGDIR": "config/matplotlib",
    "TORCH_HOME": "cache/torch",
    "TORCHINDUCTOR_CACHE_DIR": "cache/torchinductor",
    "TRITON_CACHE_DIR": "cache/triton",
    "CUDA_CACHE_PATH": "cache/nv",  # CUDA's JIT cache, ~/.nv/ComputeCache by default
    "TMPDIR": "tmp",  # libraries' own temporary files (and subprocesses such as trtexec)
}


PREFIX = "engine-foundry-"
_OWNED = re.compile(rf"^{PREFIX}(\d+)-[A-Za-z0-9_]+$")


def remove_stale_folders(parent: Path) -> list[Path]:
    """Remove the private folders under ``parent`` that belong to this user and to a process that no longer
    exists; return them. Folders of live processes, of other users and of other names are never touched."""
    removed = []
    try:
        candidates = list(parent.glob(f"{PREFIX}*"))
    except OSError:
        return []
    for path in candidates:
        owner = _OWNED.match(path.name)
        try:
            info = path.lstat()
        except OSError:
            continue
        if owner is None or not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        if _alive(int(owner.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


@contextlib.contextmanager
def private_library_dirs() -> Iterator[Path]:
    """Point the variables of :data:`FOLDERS` at a fresh private folder; restore them and remove it on exit.

    Raises:
        HostEnvironmentError: no writable system temporary folder.
    """
    saved_tempdir = tempfile.tempdir  # before mkdtemp, which caches the system temporary folder there
    remove_stale_folders(Path(tempfile.gettempdir()))
    try:
        root = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    except OSError as err:
        tempfile.tempdir = saved_tempdir
        raise HostEnvironmentError(
            f"cannot create a private temporary folder in {tempfile.gettempdir()} ({err.strerror})",
            hint="point TMPDIR at a writable folder with some free space",
        ) from None
    saved = {name: os.environ.get(name) for name in FOLDERS}
    try:
        for name, sub in FOLDERS.items():
            folder = root / sub
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.environ[name] = str(folder)
        tempfile.tempdir = str(root / FOLDERS["TMPDIR"])
        with on_abort(lambda signal_name: shutil.rmtree(root, ignore_errors=True)):  # SIGINT/SIGTERM end with os._exit
            yield root
    finally:
        tempfile.tempdir = saved_tempdir
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def scratch_folder(prefix: str, purpose: str) -> Iterator[Path]:
    """A fresh temporary folder for one piece of work (``purpose``: "to unpack the bundle", "for the rebuild"),
    removed afterwards; no usable temporary folder is a host problem (exit 3), not a bad input.

    Raises:
        HostEnvironmentError: the temporary folder cannot be made.
    """
    try:
        folder = Path(tempfile.mkdtemp(prefix=prefix))
    except OSError as err:
        raise HostEnvironmentError(
            f"no usable temporary folder {purpose} ({err.strerror}: {tempfile.gettempdir()})",
            hint="point TMPDIR at a writable folder with free space",
        ) from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)

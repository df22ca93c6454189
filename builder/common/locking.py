"""One build of a profile at a time: an fcntl lock on ``<profile>/.lock``."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from builder.common.safe_io import open_lock_file
from builder.errors import BusyError


@contextlib.contextmanager
def profile_lock(path: Path, *, wait: bool) -> Iterator[None]:
    """Hold an exclusive lock; without ``wait`` a held lock raises :class:`BusyError`.

    The kernel drops the lock when the process dies, so a killed build never
    leaves a stale lock behind.
    """
    fd = open_lock_file(path)  # a FIFO, device, folder or symlink there is refused, named (builder/common/safe_io.py)
    try:
        flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
        try:
            fcntl.flock(fd, flags)
        except BlockingIOError:
            raise BusyError(
                f"another build of this profile is running (lock {path} is held)",
                hint="wait for it to finish, or pass --wait to queue behind it",
            ) from None
        yield
    finally:
        os.close(fd)

"""Atomic file writes: a temp file in the same folder, fsync, then rename over the target.

Readers see the old file or the new one, never half of either; a crash leaves at most a hidden temp file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_output(path: Path, mode: str = "wb", **open_args: Any) -> Iterator[IO[Any]]:
    """Yield a handle on a temp file that replaces ``path`` (mode 0644) when the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; artifacts, caches and reports are for everyone
        with os.fdopen(fd, mode, **open_args) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_output(path, "wb") as handle:
        handle.write(data)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_output(path, "w", encoding="utf-8") as handle:
        handle.write(text)

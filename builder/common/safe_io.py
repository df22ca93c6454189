"""Bounded, non-blocking reads: every file the tool reads is a regular file of a sane size, checked before reading.

A FIFO named ``x.yaml`` would block ``open``/``read`` forever, a symlink to ``/dev/zero`` would be read until
memory runs out, and a 3 GB sparse file would be read whole before a size limit could refuse it.  Here a path
is ``stat``-ed first (no device is ever opened), opened with ``O_NONBLOCK``, ``fstat``-ed again (the file read is
the file checked), refused unless it is a regular file no larger than the caller's cap, and read at most
``cap + 1`` bytes (a file growing while read is caught too).  Refusals raise :class:`FileReadError` (exit 2,
with a TIP); ``OSError`` (missing, no permission) passes through unchanged for the caller's own message.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from builder.common.strict_json import loads as _strict_json_loads
from builder.errors import BuilderError, ExitCode

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

# Caps by what is read: far above any real file of the kind, far below what hurts the machine.
PROFILE_BYTES = 1 * MIB  # a profile is a few hundred bytes
TEXT_BYTES = 16 * MIB  # SHA256SUMS, images.lock, requirement files, apt sources
JSON_BYTES = 64 * MIB  # manifests, sidecars, reports
IMAGE_BYTES = 256 * MIB  # one sample or calibration image
CACHE_BYTES = 1 * GIB  # TensorRT timing / calibration caches
CHECKPOINT_BYTES = 2 * GIB  # a .pt checkpoint; ONNX itself cannot hold more than 2 GB in one file
ARTIFACT_BYTES = 16 * GIB  # a built engine or model, a bundle
SOURCE_BYTES = 64 * MIB  # one file of the image's sources (builder/, profiles/)

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class FileReadError(BuilderError):
    """A file that is not a regular file, or larger than its kind allows; nothing of it was read."""

    exit_code = ExitCode.USAGE

    def __init__(self, path: Path, problem: str, *, hint: str) -> None:
        super().__init__(f"{path}: {problem}", hint=hint)
        self.path = path
        self.problem = problem


def kind_of(mode: int) -> str:
    """``"a FIFO (named pipe)"``, ``"a folder"``, ... or ``"a regular file"``."""
    return next(
        (name for test, name in _KINDS if test(mode)), "a regular file" if stat.S_ISREG(mode) else "a special file"
    )


def _refuse_kind(path: Path, mode: int, what: str) -> FileReadError:
    return FileReadError(
        path,
        f"is {kind_of(mode)}, not a regular file; a {what} must be a regular file",
        hint=f"replace {path.name} with a regular file (a symlink to a device, pipe or folder is refused too)",
    )


def _check(path: Path, st: os.stat_result, what: str, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise _refuse_kind(path, st.st_mode, what)
    if st.st_size > limit:
        raise FileReadError(
            path,
            f"is {st.st_size} bytes, more than the {_size(limit)} a {what} may have; it was not read",
            hint=f"check that this is the right file: a {what} is far smaller",
        )


def check_regular(path: Path, *, what: str, limit: int) -> os.stat_result:
    """``stat`` ``path`` (following symlinks) and refuse anything but a regular file of at most ``limit`` bytes.

    For files a library opens by name (checkpoints, ONNX models); nothing is opened.

    Raises:
        FileReadError: not a regular file, or too large.
        OSError: missing, no permission (unchanged).
    """
    st = os.stat(path)
    _check(path, st, what, limit)
    return st


def open_lock_file(path: Path) -> int:
    """A descriptor on the lock file ``path`` (created if absent), refused unless it is a regular file.

    Never blocks: a FIFO or device is refused after an ``O_NONBLOCK`` open, a symlink without following it.

    Raises:
        FileReadError: the path is a symlink, FIFO, device, socket or folder.
        OSError: no permission, read-only file system (unchanged).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as err:
        if os.path.islink(path) or os.path.isdir(path):
            what = "a symlink" if os.path.islink(path) else "a folder"
            raise FileReadError(
                path,
                f"is {what}, not a regular file; a lock file must be a regular file",
                hint=f"remove {path} (no build may be running); it is recreated",
            ) from err
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise FileReadError(
            path,
            f"is {kind_of(st.st_mode)}, not a regular file; a lock file must be a regular file",
            hint=f"remove {path} (no build may be running); it is recreated",
        )
    return fd


@contextlib.contextmanager
def open_regular(path: Path, *, what: str, limit: int) -> Iterator[IO[bytes]]:
    """A binary handle on ``path`` after the checks of :func:`check_regular`; reads past ``limit`` raise.

    Raises:
        FileReadError: not a regular file, too large, or it grew past ``limit`` while read.
        OSError: missing, no permission (unchanged).
    """
    check_regular(path, what=what, limit=limit)  # before opening: never open a device or a FIFO
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    try:
        _check(path, os.fstat(fd), what, limit)  # the file opened is the file checked
    except BaseException:
        os.close(fd)
        raise
    with _Bounded(os.fdopen(fd, "rb"), path, what, limit) as handle:
        yield handle  # type: ignore[misc]


class _Bounded:
    """A read-only binary file whose reads fail once more than ``limit`` bytes came out of it."""

    def __init__(self, raw: IO[bytes], path: Path, what: str, limit: int) -> None:
        self._raw, self._path, self._what, self._limit = raw, path, what, limit

    def read(self, size: int = -1) -> bytes:
        room = self._limit + 1 - self._raw.tell()  # by position, so a seek back (gzip, tarfile) is no growth
        want = room if size is None or size < 0 else min(size, room)
        chunks, left = [], max(want, 0)
        while left > 0:
            chunk = self._raw.read(min(left, 8 * MIB))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if self._raw.tell() > self._limit:
            raise self._grew()
        return data

    def _grew(self) -> FileReadError:
        return FileReadError(
            self._path,
            f"grew past {_size(self._limit)} while being read as a {self._what}",
            hint="wait until whatever writes the file has finished, then run again",
        )

    def __getattr__(self, name: str) -> Any:  # seek, tell, fileno, ... for tarfile and gzip
        return getattr(self._raw, name)

    def __enter__(self) -> _Bounded:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()


def read_bytes(path: Path, *, what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see the module docstring)."""
    with open_regular(path, what=what, limit=limit) as handle:
        return handle.read()


def read_text(path: Path, *, what: str, limit: int, errors: str = "strict") -> str:
    """:func:`read_bytes` decoded as UTF-8 (``UnicodeDecodeError``, a ``ValueError``, passes through)."""
    return read_bytes(path, what=what, limit=limit).decode("utf-8", errors)


def read_json(path: Path, *, what: str, limit: int = JSON_BYTES) -> Any:
    """:func:`read_bytes` parsed as JSON the tool's records can hold (:func:`builder.common.strict_json.loads`: NaN, a
    duplicate key, too deep a nesting … raise :class:`~builder.common.strict_json.JsonContentError`, naming the field;
    ``ValueError``, its base, passes through)."""
    return _strict_json_loads(read_bytes(path, what=what, limit=limit))


def _size(count: int) -> str:
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"

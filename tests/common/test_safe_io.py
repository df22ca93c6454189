"""builder/common/safe_io.py on real special files: FIFOs, devices, folders, sparse files, a file growing while read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.common.safe_io import FileReadError, open_lock_file, open_regular, read_bytes, read_json, read_text
from builder.errors import ExitCode


def _bytes_read() -> int:
    """What this process has read so far (``rchar`` of /proc/self/io): whether a file was read, by no clock."""
    line = next(line for line in Path("/proc/self/io").read_text().splitlines() if line.startswith("rchar:"))
    return int(line.split()[1])


def test_a_regular_file_within_its_cap_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"a": [1, 2]}')
    assert read_bytes(path, what="x", limit=13) == b'{"a": [1, 2]}'
    assert read_json(path, what="x") == {"a": [1, 2]}
    assert read_text(path, what="x", limit=100) == '{"a": [1, 2]}'


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("fifo", "a FIFO (named pipe)"),
        ("dev-zero", "a character device"),
        ("folder", "a folder"),
    ],
)
def test_special_files_are_refused_without_being_opened(tmp_path: Path, kind: str, expected: str) -> None:
    path = tmp_path / "p.yaml"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block without a writer
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    before = _bytes_read()  # a FIFO opened for reading would block (the test would hang), /dev/zero be read
    with pytest.raises(FileReadError) as caught:
        read_bytes(path, what="profile", limit=1 << 20)
    assert _bytes_read() - before < 1 << 16
    assert caught.value.message == f"{path}: is {expected}, not a regular file; a profile must be a regular file"
    assert caught.value.exit_code == ExitCode.USAGE and caught.value.hint


def test_a_sparse_file_over_the_cap_is_refused_from_its_size_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "wb") as handle:
        handle.truncate(3 << 30)
    before = _bytes_read()
    with pytest.raises(
        FileReadError, match=r"is 3221225472 bytes, more than the 1 MiB a profile may have; it was not read"
    ):
        read_bytes(path, what="profile", limit=1 << 20)
    assert _bytes_read() - before < 1 << 16


def test_a_file_growing_past_its_cap_while_read_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "growing.log"
    path.write_bytes(b"12345")
    with open_regular(path, what="log", limit=10) as handle:
        assert handle.read(3) == b"123"
        with open(path, "ab") as writer:
            writer.write(b"x" * 20)
        with pytest.raises(FileReadError, match="grew past 10 bytes while being read"):
            handle.read()


def test_missing_and_unreadable_files_raise_the_usual_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_bytes(tmp_path / "nope", what="x", limit=10)


def test_a_seek_back_is_not_growth(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abcdef")
    with open_regular(path, what="x", limit=6) as handle:
        assert handle.read() == b"abcdef"
        handle.seek(0)
        assert handle.read() == b"abcdef"


@pytest.mark.parametrize("kind", ["fifo", "symlink", "folder"])
def test_a_lock_file_must_be_a_regular_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / ".lock"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.mkdir()
    with pytest.raises(FileReadError, match="a lock file must be a regular file"):
        open_lock_file(path)
    assert not (tmp_path / "elsewhere").exists()  # the symlink was not followed to create its target


def test_a_lock_file_is_created_when_absent(tmp_path: Path) -> None:
    fd = open_lock_file(tmp_path / ".lock")
    os.close(fd)
    assert (tmp_path / ".lock").is_file()

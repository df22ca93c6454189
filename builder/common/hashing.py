"""SHA-256 of files and the ``SHA256SUMS`` file that ``sha256sum -c`` accepts."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from builder.common.safe_io import ARTIFACT_BYTES, FileReadError, kind_of, open_regular

SUMS_NAME = "SHA256SUMS"
_CHUNK = 1 << 20


def sha256_file(path: Path, *, what: str = "build file", limit: int = ARTIFACT_BYTES) -> str:
    """Hex sha256 of a regular file's bytes, read in chunks (see builder/common/safe_io.py: a FIFO or device is
    refused)."""
    digest = hashlib.sha256()
    with open_regular(path, what=what, limit=limit) as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def format_sums(entries: Iterable[tuple[str, str]]) -> str:
    """``<hash>  <relative path>`` lines (text mode, two spaces), sorted by path."""
    return "".join(f"{digest}  {rel}\n" for rel, digest in sorted(entries))


@dataclass(frozen=True)
class SumMismatch:
    path: str
    problem: str  # "missing", "changed", "unlisted", "unreadable"

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


def parse_sums(text: str) -> dict[str, str]:
    """Parse a SHA256SUMS file into {relative path: hash}; raises ValueError on a bad line."""
    result: dict[str, str] = {}
    for number, line in enumerate(text.split("\n"), start=1):  # only \n ends a line, as for sha256sum
        if not line.strip():
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"line {number} is not '<sha256>  <path>'")
        rel = rel.lstrip("*")
        if not rel.isprintable():
            raise ValueError(f"line {number} has a control character in its path: {rel!r}")
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise ValueError(f"line {number} names a path outside the folder: {rel}")
        result[rel] = digest
    return result


def check_folder(folder: Path, sums: dict[str, str], *, ignore: Iterable[str] = (SUMS_NAME,)) -> list[SumMismatch]:
    """Compare ``folder`` with ``sums``: missing, changed and unlisted files."""
    problems: list[SumMismatch] = []
    for rel, digest in sorted(sums.items()):
        path = folder / rel
        if not path.is_file():
            problems.append(
                SumMismatch(rel, f"not a regular file ({kind_of(path.stat().st_mode)})" if path.exists() else "missing")
            )
            continue
        try:
            actual = sha256_file(path)
        except OSError:
            problems.append(SumMismatch(rel, "unreadable"))
            continue
        except FileReadError as err:  # larger than any artifact may be, or a FIFO swapped in
            problems.append(SumMismatch(rel, err.problem))
            continue
        if actual != digest:
            problems.append(SumMismatch(rel, "changed (sha256 differs)"))
    skip = set(ignore)
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if not path.is_dir() and rel not in sums and rel not in skip:  # a FIFO or device added is tampering too
            problems.append(SumMismatch(rel, "unlisted (not in SHA256SUMS)"))
    return problems

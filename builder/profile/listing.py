"""``list_profiles``: every profile in a folder, with the problem of each one that does not load."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import FieldError, ProfileError, UsageError
from builder.profile.chain import read_profile_chain
from builder.profile.complete import profile_from_data
from builder.profile.load import check_profile_chain


@dataclass(frozen=True)
class ProfileListing:
    """One line of ``list``: ``error`` is None when the profile loads (abstract bases: when it is well-formed)."""

    name: str
    path: Path
    abstract: bool
    description: str = ""
    backend: str | None = None
    precision: str | None = None
    error: str | None = None


def list_profiles(profiles_dir: Path) -> list[ProfileListing]:
    """Every ``*.yaml`` profile in ``profiles_dir``, sorted by name; never raises for a bad file.

    Raises:
        UsageError: ``profiles_dir`` is not a folder.
    """
    if not profiles_dir.is_dir():
        raise UsageError(
            f"profiles folder {profiles_dir} does not exist",
            hint="pass --profiles-dir pointing at the folder of .yaml profiles",
        )
    return [_listing(path) for path in sorted(profiles_dir.glob("*.yaml"), key=lambda p: p.stem)]


def _listing(path: Path) -> ProfileListing:
    abstract = path.stem.startswith("_")
    try:
        chain = read_profile_chain(path)
    except ProfileError as exc:
        return ProfileListing(path.stem, path, abstract, error=_summary(exc.errors))
    data = chain.data
    valid, errors = check_profile_chain(chain)
    description = _text(data.get("description")) or ""
    backend, precision = _text(data.get("backend")), _text(data.get("precision"))
    if errors:
        return ProfileListing(path.stem, path, abstract, description, backend, precision, _summary(errors))
    if valid is None:  # an abstract base: well-formed, but not a whole profile
        return ProfileListing(path.stem, path, abstract, description, backend, precision)
    profile = profile_from_data(valid, source=str(path))
    return ProfileListing(
        path.stem, path, abstract, profile.description, profile.backend.value, profile.precision.value
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _summary(errors: Sequence[FieldError]) -> str:
    first = str(errors[0]) if errors else "invalid profile"
    return first + (f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else "")

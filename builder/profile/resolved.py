"""Rebuild a :class:`Profile` from its resolved form (``Profile.to_dict()``), as stored in manifests.

The resolved form goes the way a profile file goes: written as a document, validated against the
field table (every rule), completed and built; there is no second reader to keep in line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from builder.errors import ArtifactError
from builder.profile.complete import document_from_resolved, profile_from_data
from builder.profile.model import Profile
from builder.profile.source import KeyPath
from builder.profile.validate import Report, validate

WHERE = "manifest profile.resolved"


def profile_from_resolved(data: Mapping[str, Any]) -> Profile:
    """Inverse of :meth:`Profile.to_dict`.

    Raises:
        ArtifactError: the data is not a valid resolved profile of this schema.
    """
    if not isinstance(data, Mapping):
        raise _unreadable(f"it is {type(data).__name__}, not a mapping")
    report = Report(_locate, complete=True)
    valid = validate(document_from_resolved(data), report)
    if valid is None:
        more = f" (and {len(report.errors) - 1} more problem(s))" if len(report.errors) > 1 else ""
        raise _unreadable(f"{report.errors[0]}{more}")
    return profile_from_data(
        valid,
        source=str(data.get("source", "")),
        extends_chain=tuple(str(path) for path in data.get("extends_chain", ())),
    )


def resolved_problems(data: Mapping[str, Any]) -> list[str]:
    """Why ``data`` is not a valid resolved profile, one ``profile.resolved.<key>: <what>`` line per problem."""
    if not isinstance(data, Mapping):
        return [f"profile.resolved: must be an object, got {type(data).__name__}"]
    report = Report(_locate, complete=True)
    validate(document_from_resolved(data), report)
    return [
        f"profile.resolved.{error.key}: {error.message}" if error.key else f"profile.resolved: {error.message}"
        for error in report.errors
    ]


def _locate(path: KeyPath) -> tuple[str, int | None]:
    return WHERE, None


def _unreadable(reason: str) -> ArtifactError:
    return ArtifactError(
        f"the manifest's resolved profile cannot be read: {reason}",
        hint="the manifest was written by another Engine Foundry version or edited by hand",
    )

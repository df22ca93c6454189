"""The complete step: defaults filled in (some by precision), valid data turned into a :class:`Profile`.

Runs only on data that passed validation; a value the user wrote always wins. The
:class:`Profile` is built generically from the field table (:meth:`Section.build`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from builder.profile.fields import PRECISION_DEFAULTS, PROFILE
from builder.profile.kinds import NO_DEFAULT, Kind
from builder.profile.model import Profile
from builder.profile.sections import Either, MapOf, Section
from builder.profile.validate import ValidProfileData


def complete_data(data: dict[str, Any], table: Section = PROFILE) -> dict[str, Any]:
    """``data`` with every default of ``table`` filled in (a new dict; ``data`` is not changed)."""
    filled = _fill(table, data)
    by_precision = PRECISION_DEFAULTS[filled["precision"]]
    verify = filled["verify"]
    default_tolerance = {**by_precision["tolerance"], **verify["tolerances"].get("default", {})}
    verify["tolerances"] = {
        "default": default_tolerance,
        **{name: {**default_tolerance, **tol} for name, tol in verify["tolerances"].items() if name != "default"},
    }
    verify["detection"] = {**by_precision["detection"], **verify["detection"]}
    return filled


def profile_from_data(valid: ValidProfileData, *, source: str = "", extends_chain: tuple[str, ...] = ()) -> Profile:
    """Build a :class:`Profile` from validated, merged profile data: defaults filled in, then each section of
    the field table it was validated against builds its dataclass."""
    table = valid.table
    profile = table.build(complete_data(dict(valid.data), table), source=source, extends_chain=extends_chain)
    assert isinstance(profile, Profile), "the field table's top section builds a Profile"
    return profile


def document_from_profile(profile: Profile) -> dict[str, Any]:
    """A self-contained profile document (no ``extends``) that loads back to an equal profile."""
    return document_from_resolved(profile.to_dict())


def document_from_resolved(resolved: Mapping[str, Any]) -> dict[str, Any]:
    """A resolved profile (:meth:`Profile.to_dict`, as manifests store it) written as a profile document:
    what the user could have written (no ``source``, no unused ``model`` keys, ``timing_cache: off``)."""
    doc = {key: copy.deepcopy(value) for key, value in resolved.items() if key not in ("source", "extends_chain")}
    model = doc.get("model")
    if isinstance(model, dict):
        doc["model"] = {key: value for key, value in model.items() if value is not None}
        if "checkpoint" in doc["model"]:
            doc["model"].pop("seed", None)
    if "timing_cache" in doc and doc["timing_cache"] is None:
        doc["timing_cache"] = "off"
    return doc


def _fill(section: Section, value: dict[str, Any]) -> dict[str, Any]:
    out = dict(value)
    for spec in section.fields:
        if spec.name not in out or (out[spec.name] is None and spec.default is None):
            if spec.default is NO_DEFAULT:
                continue
            out[spec.name] = copy.deepcopy(spec.default)
        out[spec.name] = _fill_kind(spec.kind, out[spec.name])
    return out


def _fill_kind(kind: Kind, value: Any) -> Any:
    if isinstance(value, dict):
        if isinstance(kind, Section):
            return _fill(kind, value)
        if isinstance(kind, MapOf):
            return {key: _fill_kind(kind.value, item) for key, item in value.items()}
        if isinstance(kind, Either):
            section = next((option for option in kind.options if isinstance(option, Section)), None)
            return _fill(section, value) if section is not None else value
    return value

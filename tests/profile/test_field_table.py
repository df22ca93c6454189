"""The field table builds the dataclasses of builder.profile.model: each section names its class, and they agree."""

from __future__ import annotations

import dataclasses

import pytest

from builder.backends.catalog import backends
from builder.profile import Backend, load_profile, model
from builder.profile.complete import document_from_profile
from builder.profile.fields import PROFILE, iter_fields
from builder.profile.kinds import NO_DEFAULT
from builder.profile.resolved import profile_from_resolved
from builder.profile.sections import Section
from builder.profile.source import format_key_path
from tests.profile.helpers import PROFILES


def _sections() -> list[Section]:
    found = [PROFILE]
    for _, spec in iter_fields():
        kinds = getattr(spec.kind, "options", (spec.kind,)) + (getattr(spec.kind, "value", None),)
        found += [kind for kind in kinds if isinstance(kind, Section) and kind not in found]
    return found


SECTIONS = _sections()


def test_every_section_builds_a_profile_dataclass() -> None:
    built = {section.cls for section in SECTIONS}
    assert built == {cls for cls in vars(model).values() if dataclasses.is_dataclass(cls)}


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: getattr(s.cls, "__name__", "?"))
def test_stored_fields_are_the_dataclass_attributes(section: Section) -> None:
    extra = {"source", "extends_chain"} if section is PROFILE else set()
    stored = {spec.name for spec in section.fields if spec.stored}
    assert stored == {f.name for f in dataclasses.fields(section.cls)} - extra


def test_every_field_is_documented() -> None:
    for path, spec in iter_fields():
        assert spec.doc.strip().endswith("."), path
        assert not (spec.required and spec.nullable), path


@pytest.mark.parametrize("section", SECTIONS, ids=lambda s: getattr(s.cls, "__name__", "?"))
def test_static_defaults_agree_with_dataclass_defaults_where_both_exist(section: Section) -> None:
    """Dataclass defaults exist for code that builds a profile by hand (tests); the table's are what the loader uses."""
    for f in dataclasses.fields(section.cls):
        if not any(spec.name == f.name for spec in section.fields):
            continue
        spec = section.field(f.name)
        if (
            f.default is not dataclasses.MISSING
            and spec.default is not NO_DEFAULT
            and not isinstance(spec.default, dict)
            and spec.default_doc is None
        ):
            assert spec.build(spec.default) == f.default, (section.cls, f.name)


def test_backend_members_are_catalogue_backends() -> None:
    assert {member.value for member in Backend} <= {entry.name for entry in backends()}
    assert all(Backend(entry.name).value == entry.name for entry in backends())


def test_catalogue_only_fields_name_fields_of_the_table() -> None:
    keys = {format_key_path(path) for path, _ in iter_fields()}
    for entry in backends():
        assert set(entry.only_fields) <= keys, entry.name
        for key in entry.only_fields:
            spec = dict((format_key_path(p), s) for p, s in iter_fields())[key]
            assert spec.default is not NO_DEFAULT, f"{key}: a backend-only key needs a default the others keep"


@pytest.mark.parametrize("path", sorted(PROFILES.glob("[!_]*.yaml")), ids=lambda p: p.stem)
def test_resolved_profiles_read_back_equal(path) -> None:
    """The manifest reader goes through the same table: to_dict -> profile_from_resolved is the identity."""
    profile = load_profile(path, PROFILES)
    assert profile_from_resolved(profile.to_dict()) == profile
    assert document_from_profile(profile)["name"] == profile.name

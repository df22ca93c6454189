"""The field table and the dataclasses of builder.profile.model describe the same profile."""

from __future__ import annotations

import dataclasses

from builder.profile import model
from builder.profile.fields import (
    BENCHMARK,
    DETECTION,
    INT8,
    MODEL,
    OUTPUTS,
    PROFILE,
    TARGET,
    TOLERANCE,
    VERIFY,
    iter_fields,
)
from builder.profile.kinds import NO_DEFAULT
from builder.profile.sections import Section

PAIRS = [
    (MODEL, model.ModelSpec), (INT8, model.Int8Spec), (TARGET, model.TargetSpec), (TOLERANCE, model.Tolerance),
    (DETECTION, model.DetectionCheck), (VERIFY, model.VerifySpec), (BENCHMARK, model.BenchmarkSpec),
    (OUTPUTS, model.OutputsSpec),
]


def _names(section: Section) -> set[str]:
    return {spec.name for spec in section.fields}


def test_top_level_fields_are_profile_attributes() -> None:
    attributes = {f.name for f in dataclasses.fields(model.Profile)} - {"source", "extends_chain"}
    assert _names(PROFILE) - {"extends"} == attributes


def test_sections_match_their_dataclasses() -> None:
    for section, cls in PAIRS:
        assert _names(section) == {f.name for f in dataclasses.fields(cls)}, cls.__name__


def test_every_field_is_documented() -> None:
    for path, spec in iter_fields():
        assert spec.doc.strip().endswith("."), path
        assert not (spec.required and spec.nullable), path


def test_static_defaults_agree_with_dataclass_defaults_where_both_exist() -> None:
    for section, cls in PAIRS:
        for f in dataclasses.fields(cls):
            spec = section.field(f.name)
            if f.default is not dataclasses.MISSING and spec.default is not NO_DEFAULT \
                    and not isinstance(spec.default, dict) and spec.default_doc is None:
                assert spec.default == f.default or (f.name == "images" and tuple(spec.default) == f.default), \
                    (cls.__name__, f.name)

"""Compound kinds of the field table: lists, sections of named fields, free-form maps, alternatives.

A :class:`Section` names the frozen dataclass it builds (``cls``), so a checked, completed mapping becomes
typed profile data generically: each :class:`Field` normalises its value, then its kind builds it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from builder.profile.kinds import NO_DEFAULT, Kind, Reporter, did_you_mean, type_error
from builder.profile.source import KeyPath


@dataclass(frozen=True)
class ListOf:
    item: Kind
    min_items: int = 0
    max_items: int = 64
    name: str | None = None  # how messages name the list ("a list [height, width]")

    @property
    def describe(self) -> str:
        if self.name is not None:
            return self.name
        if self.min_items == self.max_items:
            return f"a list of {self.min_items} items ({self.item.describe})"
        return f"a list of {self.item.describe}"

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, list)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, list):
            report.add(path, type_error(self, value))
            return
        if not self.min_items <= len(value) <= self.max_items:
            count = f"{self.min_items}" if self.min_items == self.max_items else f"{self.min_items}..{self.max_items}"
            report.add(path, f"must have {count} items, got {len(value)}")
        for index, item in enumerate(value):
            self.item.check(item, path + (index,), report)

    def build(self, value: Any) -> Any:
        return tuple(self.item.build(item) for item in value)

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "items": self.item.schema(), "minItems": self.min_items, "maxItems": self.max_items}


@dataclass(frozen=True)
class Field:
    """One key of a section: its kind, documentation, default and normalisation.

    ``default`` is what the complete step fills in (``NO_DEFAULT``: none, the value is ``None``
    when absent; a section's default ``{}`` means "filled from its own fields"). ``default_doc``
    overrides how the default is shown (e.g. "by precision"). ``normalize`` turns a checked value
    into its one canonical spelling before the kind builds it (``imgsz: 640`` -> ``[640, 640]``).
    Which backends a key applies to is the backend catalogue's ``only_fields``.
    """

    name: str
    kind: Kind
    doc: str
    default: Any = NO_DEFAULT
    default_doc: str | None = None
    type_doc: str | None = None  # how the reference table names the type, when the kind's own name is unclear
    required: bool = False
    nullable: bool = False
    per_file: bool = False  # belongs to one file (name, extends), checked before merging
    replace_on_extend: bool = False  # a child's value replaces the base's whole instead of merging
    stored: bool = True  # False: read by the loader only (extends), not an attribute of the built dataclass
    normalize: Callable[[Any], Any] | None = None

    def canonical(self, value: Any) -> Any:
        """``value`` (checked) in its canonical spelling."""
        return value if value is None or self.normalize is None else self.normalize(value)

    def build(self, value: Any) -> Any:
        """The typed value of a checked, completed ``value`` (``None`` stays ``None``)."""
        value = self.canonical(value)
        return None if value is None else self.kind.build(value)


@dataclass(frozen=True)
class Section:
    """A mapping with known keys; unknown keys are errors with a "did you mean"."""

    fields: tuple[Field, ...]
    describe: str = "a mapping"
    cls: Callable[..., Any] = dict  # the frozen dataclass built from the stored fields

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    def build(self, value: Any, **extra: Any) -> Any:
        """``cls`` from a checked, completed mapping; ``extra`` are attributes the table does not hold."""
        return self.cls(**{f.name: f.build(value.get(f.name)) for f in self.fields if f.stored}, **extra)

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, dict):
            report.add(path, type_error(self, value))
            return
        known = {f.name: f for f in self.fields}
        for key, item in value.items():
            spec = known.get(key)
            if spec is None:
                allowed = "" if did_you_mean(key, list(known)) else f" (allowed: {', '.join(known)})"
                report.add(path + (key,), f"unknown key {key!r}{did_you_mean(key, list(known))}{allowed}")
            elif item is None and spec.nullable:
                continue
            else:
                spec.kind.check(item, path + (key,), report)
        if report.complete:
            for spec in self.fields:
                if spec.required and not spec.per_file and value.get(spec.name) is None:
                    report.add(path + (spec.name,), f"missing required key {spec.name!r}")

    def schema(self) -> dict[str, Any]:
        # No "required": one file may leave keys to the profile it extends.
        return {
            "type": "object",
            "properties": {f.name: field_schema(f) for f in self.fields},
            "additionalProperties": False,
        }


@dataclass(frozen=True)
class MapOf:
    """A mapping from free-form names (matching ``key_pattern``) to values of one kind."""

    value: Kind
    key_pattern: str
    key_help: str
    describe: str = "a mapping"

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, dict):
            report.add(path, type_error(self, value))
            return
        for key, item in value.items():
            if not re.search(self.key_pattern, key):
                report.add(path + (key,), f"{key!r} {self.key_help}")
            else:
                self.value.check(item, path + (key,), report)

    def build(self, value: Any) -> Any:
        return {key: self.value.build(item) for key, item in value.items()}

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "propertyNames": {"pattern": self.key_pattern},
            "additionalProperties": self.value.schema(),
        }


@dataclass(frozen=True)
class Either:
    """The first alternative whose type matches and whose check passes."""

    options: tuple[Kind, ...]

    @property
    def describe(self) -> str:
        return " or ".join(option.describe for option in self.options)

    def matches_type(self, value: Any) -> bool:
        return any(option.matches_type(value) for option in self.options)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        candidates = [option for option in self.options if option.matches_type(value)]
        if not candidates:
            report.add(path, type_error(self, value))
            return
        for option in candidates[:-1]:
            trial = _Trial(report.complete)
            option.check(value, path, trial)
            if not trial.problems:
                return
        candidates[-1].check(value, path, report)

    def build(self, value: Any) -> Any:
        """Built by the first alternative of the value's type (fields normalise to one spelling first)."""
        return next(option for option in self.options if option.matches_type(value)).build(value)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [option.schema() for option in self.options]}


@dataclass
class _Trial:
    complete: bool
    problems: list[str] = field(default_factory=list)

    def add(self, path: KeyPath, message: str) -> None:
        self.problems.append(message)


def field_schema(spec: Field) -> dict[str, Any]:
    """JSON Schema of one field: its kind, ``null`` if nullable, description and static default."""
    kind = spec.kind.schema()
    out: dict[str, Any] = {"anyOf": [kind, {"type": "null"}]} if spec.nullable else dict(kind)
    out["description"] = spec.doc
    if spec.default is not NO_DEFAULT and not isinstance(spec.default, dict):
        out["default"] = spec.default
    return out

"""Value kinds of the field table: each one validates YAML data, builds the typed value and describes itself as
JSON Schema.

The loader (:mod:`builder.profile.validate`), the complete step (:mod:`builder.profile.complete`) and the schema
generator (:mod:`builder.profile.schema`) all read the same kinds, so the rules exist once.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from builder.profile.source import KeyPath

NO_DEFAULT: Any = object()


class Reporter(Protocol):
    """Where kinds send problems (see :class:`builder.profile.validate.Report`)."""

    complete: bool  # True: required keys must be present (a whole profile, not a fragment)

    def add(self, path: KeyPath, message: str) -> None: ...


class Kind(Protocol):
    """A kind of value: ``describe`` for messages and docs, ``check`` reports problems, ``build`` turns a checked
    value into what the :class:`~builder.profile.model.Profile` holds, ``schema`` for JSON Schema."""

    @property
    def describe(self) -> str: ...

    def matches_type(self, value: Any) -> bool: ...

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None: ...

    def build(self, value: Any) -> Any: ...

    def schema(self) -> dict[str, Any]: ...


def shown(value: Any) -> str:
    """How a wrong value is named in a message (``the string 'true'``, ``the number 8.6``)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({value!r})"


def type_error(kind: Kind, value: Any) -> str:
    message = f"must be {kind.describe}, got {shown(value)}"
    if (
        isinstance(value, str)
        and value.lower() in {"true", "false", "yes", "no", "on", "off"}
        and "boolean" in kind.describe
    ):
        message += "; write true or false without quotes"
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and kind.describe.startswith("a string"):
        message += f'; quote it: "{value}"'
    elif isinstance(value, str) and _looks_numeric(value) and ("integer" in kind.describe or "number" in kind.describe):
        message += "; write the number without quotes"
    return message


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def did_you_mean(word: str, choices: Iterator[str] | list[str] | tuple[str, ...]) -> str:
    by_lower = {choice.lower(): choice for choice in choices}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


@dataclass(frozen=True)
class Boolean:
    describe: str = "a boolean (true or false)"

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, bool)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, bool):
            report.add(path, type_error(self, value))

    def build(self, value: Any) -> Any:
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Integer:
    minimum: int | None = None
    maximum: int | None = None
    multiple_of: int | None = None
    describe: str = "an integer"

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not self.matches_type(value):
            report.add(path, type_error(self, value))
        elif (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            report.add(path, f"must be {self.range_text()}, got {value}")
        elif self.multiple_of and value % self.multiple_of:
            report.add(path, f"must be a multiple of {self.multiple_of}, got {value}")

    def build(self, value: Any) -> Any:
        return value

    def range_text(self) -> str:
        if self.maximum is None:
            return f"at least {self.minimum}"
        if self.minimum is None:
            return f"at most {self.maximum}"
        return f"between {self.minimum} and {self.maximum}"

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.multiple_of:
            out["multipleOf"] = self.multiple_of
        return out


@dataclass(frozen=True)
class Number:
    """A finite number; ``exclusive_minimum`` makes the lower bound strict."""

    minimum: float = 0.0
    maximum: float | None = None
    exclusive_minimum: bool = False
    describe: str = "a number"

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not self.matches_type(value):
            report.add(path, type_error(self, value))
            return
        low_ok = value > self.minimum if self.exclusive_minimum else value >= self.minimum
        if not math.isfinite(value) or not low_ok or (self.maximum is not None and value > self.maximum):
            report.add(path, f"must be {self.range_text()}, got {value}")

    def build(self, value: Any) -> Any:
        return float(value)

    def range_text(self) -> str:
        if self.maximum is None:
            return f"{'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        low = "(" if self.exclusive_minimum else "["
        return f"in {low}{self.minimum:g}, {self.maximum:g}]"

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "number"}
        out["exclusiveMinimum" if self.exclusive_minimum else "minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        return out


@dataclass(frozen=True)
class Text:
    """A string; each ``(pattern, message)`` rule must match (``message`` says what is wrong otherwise)."""

    rules: tuple[tuple[str, str], ...] = ()
    max_length: int = 256
    describe: str = "a string"

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, str)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if not isinstance(value, str):
            report.add(path, type_error(self, value))
            return
        if len(value) > self.max_length:
            report.add(path, f"must be at most {self.max_length} characters long")
            return
        for pattern, message in self.rules:
            if not re.search(pattern, value):
                report.add(path, f"{value!r} {message}")
                return

    def build(self, value: Any) -> Any:
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if len(self.rules) == 1:
            out["pattern"] = self.rules[0][0]
        elif self.rules:
            out["allOf"] = [{"pattern": pattern} for pattern, _ in self.rules]
        return out


@dataclass(frozen=True)
class Choice:
    """One of ``values``; ``yaml_bools`` maps the booleans YAML 1.1 makes of ``on``/``off`` to a value."""

    values: tuple[str, ...]
    yaml_bools: Mapping[bool, str] = field(default_factory=dict)
    unsupported: tuple[str, ...] = ()  # known values that this version does not support yet
    as_type: Callable[[str], Any] = str  # what the profile holds: the value itself, or e.g. an enum member

    @property
    def describe(self) -> str:
        return "one of " + " | ".join(self.values)

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, str) or (isinstance(value, bool) and value in self.yaml_bools)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        if isinstance(value, bool) and value in self.yaml_bools:
            return
        if not isinstance(value, str):
            report.add(path, type_error(self, value))
        elif value in self.unsupported:
            report.add(path, f"{value!r} is not supported yet (supported: {', '.join(self.values)})")
        elif value not in self.values:
            report.add(path, f"must be {self.describe}, got {value!r}{did_you_mean(value, self.values)}")

    def build(self, value: Any) -> Any:
        return self.as_type(self.yaml_bools[value] if isinstance(value, bool) else value)

    def schema(self) -> dict[str, Any]:
        return {"enum": [*self.values, *self.yaml_bools]}


@dataclass(frozen=True)
class Size:
    """Bytes: an integer, or a string with a unit (see :mod:`builder.profile.units`)."""

    minimum: int
    maximum: int
    describe: str = "a size such as '4GiB' or '512MiB' (or an integer number of bytes)"

    def matches_type(self, value: Any) -> bool:
        return isinstance(value, str) or Integer().matches_type(value)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        from builder.profile.units import format_size, parse_size

        if not self.matches_type(value):
            report.add(path, type_error(self, value))
            return
        try:
            nbytes = parse_size(value) if isinstance(value, str) else value
        except ValueError as exc:
            report.add(path, str(exc))
            return
        if not self.minimum <= nbytes <= self.maximum:
            hint = f"; did you mean '{value}GiB'?" if isinstance(value, int) and 0 < value <= 1024 else ""
            report.add(
                path,
                f"{value!r} is {nbytes} bytes, outside {format_size(self.minimum)}..{format_size(self.maximum)}{hint}",
            )

    def build(self, value: Any) -> Any:
        from builder.profile.units import parse_size

        return parse_size(value) if isinstance(value, str) else value

    def schema(self) -> dict[str, Any]:
        from builder.profile.units import SIZE_PATTERN

        return {
            "anyOf": [
                {"type": "integer", "minimum": self.minimum, "maximum": self.maximum},
                {"type": "string", "pattern": SIZE_PATTERN},
            ]
        }


@dataclass(frozen=True)
class Dynamic:
    """A kind made afresh at each use, for rules read from elsewhere at run time (e.g. a :class:`Choice` of the
    backend catalogue's names, which a registered backend extends)."""

    make: Callable[[], Kind]

    @property
    def describe(self) -> str:
        return self.make().describe

    def matches_type(self, value: Any) -> bool:
        return self.make().matches_type(value)

    def check(self, value: Any, path: KeyPath, report: Reporter) -> None:
        self.make().check(value, path, report)

    def build(self, value: Any) -> Any:
        return self.make().build(value)

    def schema(self) -> dict[str, Any]:
        return self.make().schema()

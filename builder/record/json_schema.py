"""A small JSON Schema (draft 2020-12) checker for the keywords Engine Foundry's own schemas use.

``verify`` runs where only the runtime packages are installed (no ``jsonschema``), and a manifest is read there
from a folder or bundle that may have been edited: every value it uses must be checked first. This checker reads
the same schema file the tests check with ``jsonschema`` (tests/record/test_json_schema.py holds the two to the same
verdicts) and knows exactly the keywords below; a schema using any other keyword is refused, so a keyword can not
be silently ignored.

A problem names its place the way a user reads it: ``artifacts[2].path``, ``profile.resolved``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

KEYWORDS = frozenset({
    "$schema", "$id", "title", "description", "type", "const", "enum", "required", "properties",
    "additionalProperties", "items", "minItems", "maxItems", "pattern", "minLength", "maxLength", "minimum", "maximum",
})  # fmt: skip
_ARTICLE = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
}
_TYPES: Mapping[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool) or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(data: Any, schema: Mapping[str, Any]) -> list[str]:
    """Every place where ``data`` breaks ``schema``, as ``"<where>: <what>"`` lines (empty when it conforms)."""
    unknown = sorted(set(_keywords(schema)) - KEYWORDS)
    if unknown:
        raise ValueError(f"the schema uses keywords this checker does not know: {unknown}")
    return [f"{where or '<top level>'}: {what}" for where, what in _check(data, schema, "")]


def _keywords(schema: Mapping[str, Any]) -> Iterator[str]:
    for key, value in schema.items():
        yield key
        if key == "properties":
            for sub in value.values():
                yield from _keywords(sub)
        elif key in ("items", "additionalProperties") and isinstance(value, Mapping):
            yield from _keywords(value)


def _check(value: Any, schema: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_TYPES[name](value) for name in names):
            yield where, f"must be {' or '.join(_ARTICLE.get(name, name) for name in names)}, got {_describe(value)}"
            return
    if "const" in schema and not _same(value, schema["const"]):
        yield where, f"must be {schema['const']!r}, got {_describe(value)}"
    if "enum" in schema and not any(_same(value, option) for option in schema["enum"]):
        yield where, f"must be one of {' | '.join(map(str, schema['enum']))}, got {_describe(value)}"
    if isinstance(value, str):
        yield from _check_string(value, schema, where)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield from _check_number(value, schema, where)
    elif isinstance(value, dict):
        yield from _check_object(value, schema, where)
    elif isinstance(value, list):
        yield from _check_array(value, schema, where)


def _check_string(value: str, schema: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    if len(value) < schema.get("minLength", 0):
        yield where, f"must have at least {schema['minLength']} character(s), got {_describe(value)}"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        yield where, f"must have at most {schema['maxLength']} characters, got {len(value)}"
    if "pattern" in schema and not re.search(schema["pattern"], value):
        yield where, f"must be {schema.get('description', 'of the form ' + schema['pattern'])}, got {_describe(value)}"


def _check_number(value: float, schema: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    if "minimum" in schema and value < schema["minimum"]:
        yield where, f"must be at least {schema['minimum']}, got {value}"
    elif "maximum" in schema and value > schema["maximum"]:
        yield where, f"must be at most {schema['maximum']}, got {value}"


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    for key in schema.get("required", ()):
        if key not in value:
            yield where, f"missing key {key!r}"
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        inner = f"{where}.{key}" if where else str(key)
        if key in properties:
            yield from _check(item, properties[key], inner)
        elif extra is False:
            yield inner, "is not a key of this record"
        elif isinstance(extra, Mapping):
            yield from _check(item, extra, inner)


def _check_array(value: list[Any], schema: Mapping[str, Any], where: str) -> Iterator[tuple[str, str]]:
    if len(value) < schema.get("minItems", 0):
        yield where, f"must have at least {schema['minItems']} item(s), got {len(value)}"
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        yield where, f"must have at most {schema['maxItems']} items, got {len(value)}"
    if isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from _check(item, schema["items"], f"{where}[{index}]")


def _same(value: Any, expected: Any) -> bool:
    """JSON equality: ``1`` is not ``true``."""
    return (
        type(value) is type(expected)
        and value == expected
        or (_TYPES["number"](value) and _TYPES["number"](expected) and value == expected)
    )


def _describe(value: Any) -> str:
    """``value`` as a JSON reader names it: 'abc', 3, true, null, an object, an array."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    text = (
        repr(value) if isinstance(value, (str, int, float)) else "an object" if isinstance(value, dict) else "an array"
    )
    return text if len(text) <= 60 else text[:57] + "..."

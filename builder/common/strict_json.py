"""JSON as the tool reads it back (manifests, sidecars, reports): what Python's parser mishandles is refused, naming
the field.

``json.loads`` accepts what no record of ours holds and some of it silently: ``NaN`` and ``Infinity`` (a NaN
latency compares unequal to everything, so no drift check could ever fire on it), numbers too large for a float
(``1e999`` becomes ``inf``), integers past 64 bits (and past 4300 digits it raises a ``ValueError`` that names no
field), duplicate keys (the last one silently wins), lone UTF-16 surrogates in strings (they fail later, when the
text is written out), and nesting deep enough to exhaust the interpreter's recursion (a ``RecursionError``, which
no caller expects). :func:`loads` refuses each with :class:`JsonContentError`, a ``ValueError`` whose ``field`` is
the dotted path of the offending value (``artifacts[1].size``; ``""`` for the document itself).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

MAX_DEPTH = 64  # a manifest nests about 8 deep; the interpreter's recursion gives out near 1000
INT_BITS = 63  # integers outside the signed 64-bit range: no record of ours holds one, other readers lose them


class JsonContentError(ValueError):
    """Valid JSON syntax that the tool's records cannot hold; ``field`` names where (``""``: the whole document)."""

    def __init__(self, field: str, problem: str) -> None:
        shown = field if len(field) <= 80 else field[:60] + "…"  # a path 64 levels deep is mostly "[0]"
        super().__init__(f"{shown or '(the document)'}: {problem}")
        self.field = field
        self.problem = problem


@dataclass(frozen=True)
class _Bad:
    """A value the parser produced that no record holds (kept in place so the walk can name its field)."""

    problem: str


class _Duplicates(dict[str, Any]):
    """An object that held a key more than once (the first such key recorded)."""

    duplicate: str = ""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = _Duplicates()
    for key, value in pairs:
        if key in result and not result.duplicate:
            result.duplicate = key
        result[key] = value
    return result if result.duplicate else dict(result)


def _number(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _Bad(f"{text[:40]} is too large for a number")


def _integer(text: str) -> Any:
    digits = text.lstrip("-")
    if len(digits) > 19 or not -(1 << INT_BITS) <= int(text) < 1 << INT_BITS:
        shown = text if len(text) <= 40 else f"{text[:20]}… ({len(digits)} digits)"
        return _Bad(f"{shown} is outside the signed 64-bit integer range")
    return int(text)


def _constant(text: str) -> Any:
    return _Bad(f"{text} is not a number (JSON has no NaN or Infinity)")


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _too_deep(text: str) -> str | None:
    """The dotted path at which ``text`` nests deeper than MAX_DEPTH, or None (a scan; nothing is parsed)."""
    stack: list[list[Any]] = []  # [kind, key-or-index] per open container
    in_string = escaped = False
    string: list[str] = []
    last_string: str | None = None
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string, last_string = False, "".join(string)
            else:
                string.append(char)
            continue
        if char == '"':
            in_string, string = True, []
        elif char == ":" and stack and stack[-1][0] == "{":
            stack[-1][1] = last_string
        elif char == "," and stack and stack[-1][0] == "[":
            stack[-1][1] += 1
        elif char in "[{":
            if len(stack) >= MAX_DEPTH:
                path = ""
                for _, key in stack:
                    path = _path(path, key if key is not None else "")
                return path
            stack.append([char, 0 if char == "[" else None])
        elif char in "]}" and stack:
            stack.pop()
    return None


def _walk(value: Any, field: str, depth: int = 0) -> None:
    if isinstance(value, _Bad):
        raise JsonContentError(field, value.problem)
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise JsonContentError(field, "holds a lone UTF-16 surrogate (not text)") from None
        return
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        raise JsonContentError(field, f"nests deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        if isinstance(value, _Duplicates):
            raise JsonContentError(_path(field, value.duplicate), "the key appears more than once in its object")
        for key, item in value.items():
            _walk(key, field)
            _walk(item, _path(field, key), depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, _path(field, index), depth + 1)


def loads(data: str | bytes) -> Any:
    """Parse ``data`` as JSON the tool's records can hold.

    Raises:
        JsonContentError: nesting deeper than MAX_DEPTH, NaN/Infinity, a number too large, a 64-bit overflow, a
            duplicate key, a lone surrogate; the field is named.
        ValueError: not JSON at all (``json.JSONDecodeError``), or not UTF-8 (``UnicodeDecodeError``).
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    try:
        value = json.loads(
            text, object_pairs_hook=_pairs, parse_float=_number, parse_int=_integer, parse_constant=_constant
        )
    except RecursionError:  # deeper than the interpreter goes: find where without parsing
        raise JsonContentError(_too_deep(text) or "", f"nests deeper than {MAX_DEPTH} levels") from None
    _walk(value, "")
    return value

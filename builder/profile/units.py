"""Byte sizes written with units: ``"4GiB"``, ``"512MiB"``, ``"1.5GB"``, ``"1073741824B"``."""

from __future__ import annotations

import re
from decimal import Decimal

UNITS: dict[str, int] = {
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
}

# Shared by the loader and the JSON Schema (ECMA-262 and Python compatible).
SIZE_PATTERN = r"^([0-9]+(?:\.[0-9]+)?) ?(" + "|".join(UNITS) + r")$"
_SIZE_RE = re.compile(SIZE_PATTERN)


def parse_size(text: str) -> int:
    """Bytes in ``text``, a number followed by a unit (``B``, ``KB`` … ``TB``, ``KiB`` … ``TiB``).

    Raises:
        ValueError: with a message that says what a valid size looks like.
    """
    match = _SIZE_RE.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a size: write a number and a unit, e.g. '4GiB', '512MiB', '1.5GB' "
            f"(units: {', '.join(UNITS)})"
        )
    number, unit = match.groups()
    exact = Decimal(number) * UNITS[unit]
    if exact != exact.to_integral_value():
        raise ValueError(f"{text!r} is not a whole number of bytes")
    return int(exact)


def format_size(nbytes: int) -> str:
    """The shortest exact spelling of ``nbytes`` in binary units (``4294967296`` -> ``"4GiB"``)."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if nbytes and nbytes % UNITS[unit] == 0:
            return f"{nbytes // UNITS[unit]}{unit}"
    return f"{nbytes}B"

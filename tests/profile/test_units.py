"""Byte sizes with units."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from builder.profile.units import SIZE_PATTERN, format_size, parse_size


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [
        ("4GiB", 4 * 2**30),
        ("512MiB", 512 * 2**20),
        ("1.5GB", 1_500_000_000),
        ("1073741824B", 2**30),
        ("1 KiB", 1024),
        ("0.5KiB", 512),
        ("2TB", 2 * 10**12),
        ("1.25MiB", 1_310_720),
    ],
)
def test_parse_size(text: str, nbytes: int) -> None:
    assert parse_size(text) == nbytes


@pytest.mark.parametrize("text", ["lots", "4", "4 gib", "4GIB", "GiB", "-1GiB", "4  GiB", "1e3MB", "4GiBs", ""])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_fractional_bytes_are_refused() -> None:
    with pytest.raises(ValueError, match="whole number of bytes"):
        parse_size("0.1KiB")


@given(st.integers(min_value=0, max_value=2**50))
def test_format_size_round_trips(nbytes: int) -> None:
    text = format_size(nbytes)
    assert re.match(SIZE_PATTERN, text)
    assert parse_size(text) == nbytes


def test_format_size_picks_the_largest_exact_unit() -> None:
    assert format_size(4 * 2**30) == "4GiB"
    assert format_size(1536 * 2**20) == "1536MiB"
    assert format_size(1000) == "1000B"

"""Build tasks that damage what a node sends back (run on the cluster's workers, imported from this checkout)."""

from __future__ import annotations

from typing import Any

from builder.farm.node import build_on_node


def flip_a_byte(request_json: bytes, board: Any = None) -> list[bytes]:
    """The real build, then one byte of the bundle flipped in its middle (a corrupted transfer)."""
    record, bundle = build_on_node(request_json, board)
    middle = len(bundle) // 2
    return [record, bundle[:middle] + bytes([bundle[middle] ^ 0xFF]) + bundle[middle + 1 :]]


def truncate(request_json: bytes, board: Any = None) -> list[bytes]:
    """The real build, then only the first two thirds of the bundle (a transfer cut short)."""
    record, bundle = build_on_node(request_json, board)
    return [record, bundle[: len(bundle) * 2 // 3]]

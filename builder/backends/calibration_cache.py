"""The keyed INT8 calibration cache of every backend (TensorRT's calibrator cache, ONNX Runtime's tensor ranges).

A calibration cache is only valid for the inputs it was calibrated on. Each cache file therefore has a JSON *key
sidecar* (``<cache>.key.json``) holding the backend's key (model digest, calibration data digest, samples, method,
preprocessing, ...); a cache whose sidecar is missing or differs from the current key is refused, never reused
silently, with the differing fields named. Caches live in ``<cache folder>/calibration/``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Protocol

from builder.common.safe_io import CACHE_BYTES, FileReadError, read_bytes, read_json
from builder.errors import EngineBuildError

FOLDER = "calibration"


class CacheKey(Protocol):
    """A backend's calibration key: a frozen dataclass that can be written as JSON."""

    def to_dict(self) -> dict[str, Any]: ...


def key_as_json(key: Any) -> dict[str, Any]:
    """A key dataclass as the sidecar stores it: its fields, tuples as lists (what JSON reads back)."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in asdict(key).items()}


def key_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Names of the key fields that differ, with short values shown."""
    out = []
    for name in sorted(set(stored) | set(current)):
        old, new = stored.get(name), current.get(name)
        if old != new:
            shown = f"{old!r} -> {new!r}" if len(repr(old)) + len(repr(new)) < 120 else "changed"
            out.append(f"{name} ({shown})")
    return out


def check_cache(cache: Path, sidecar: Path, key: CacheKey) -> str:
    """``"absent"`` (no cache: calibrate) or ``"valid"`` (the sidecar matches ``key``: reuse).

    Raises:
        EngineBuildError: a cache without a sidecar, an unreadable sidecar, or a sidecar for another key.
    """
    if not cache.exists():
        return "absent"
    fix = f"delete {cache} (and {sidecar.name}) to recalibrate, or set `int8.cache: off`"
    if not sidecar.is_file():
        raise EngineBuildError(
            f"INT8 calibration cache {cache} has no key file {sidecar.name}, so what it was calibrated on is "
            "unknown; it is not reused",
            hint=fix,
        )
    try:
        stored = read_json(sidecar, what="calibration key")
    except (OSError, ValueError, FileReadError) as err:
        raise EngineBuildError(f"INT8 calibration key {sidecar} is unreadable ({err})", hint=fix) from err
    diff = key_differences(stored if isinstance(stored, dict) else {}, key.to_dict())
    if diff:
        raise EngineBuildError(
            f"INT8 calibration cache {cache} was made for other inputs; it is not reused. Differences: "
            + "; ".join(diff),
            hint=fix,
        )
    return "valid"


def publish_cache(calibrated: Path, cache: Path, sidecar: Path, key: CacheKey) -> None:
    """Store a fresh calibration cache and its key sidecar (each written atomically, cache first)."""
    from builder.common.atomic import write_bytes_atomic
    from builder.record.manifest import write_json_atomic

    write_bytes_atomic(cache, read_bytes(calibrated, what="calibration cache", limit=CACHE_BYTES))
    write_json_atomic(sidecar, key.to_dict())

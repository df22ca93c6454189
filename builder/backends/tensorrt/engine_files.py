"""The files a TensorRT build publishes, kept apart so they are never confused.

* ``model.plan`` (kind ``model``): the raw serialized plan, what TensorRT, Polygraphy and trtexec load.
* ``model.engine`` (kind ``ultralytics-engine``, only with ``outputs.ultralytics_engine``): Ultralytics'
  format, a 4-byte little-endian length, that many bytes of JSON metadata, then the plan (as
  ``ultralytics.utils.export.engine.onnx2engine`` writes and ``AutoBackend`` reads it). Not a raw plan.
* ``layers.json`` (kind ``layers``): the engine inspector's per-layer JSON (tactics, formats, precisions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.common.safe_io import ARTIFACT_BYTES, read_bytes
from builder.errors import ArtifactError
from builder.pipeline.stage_types import ArtifactOut

PLAN = ArtifactOut("model.plan", "model")
ULTRALYTICS_ENGINE = ArtifactOut("model.engine", "ultralytics-engine")
LAYERS = ArtifactOut("layers.json", "layers")
CALIBRATION_CACHE = ArtifactOut("calibration.cache", "calibration-cache")

_HEADER_MAX = 16 * 1024 * 1024  # metadata larger than this is not a header


@dataclass(frozen=True)
class EngineFile:
    """A file read back: the raw plan and, for an Ultralytics engine, its metadata."""

    plan: bytes
    metadata: dict[str, Any] | None  # None for a raw plan


def ultralytics_engine_bytes(plan: bytes, metadata: dict[str, Any]) -> bytes:
    """Ultralytics' engine layout: ``len(json)`` (int32 little-endian) + JSON + plan."""
    meta = json.dumps(metadata).encode()
    return len(meta).to_bytes(4, byteorder="little", signed=True) + meta + plan


def read_engine_bytes(data: bytes) -> EngineFile:
    """Split an engine file's bytes into (plan, metadata), detecting an Ultralytics header.

    A header is recognised only when the length fits the file and the bytes after it parse as a JSON object,
    as Ultralytics' own reader does; anything else is a raw plan.
    """
    if len(data) >= 4:
        size = int.from_bytes(data[:4], byteorder="little", signed=True)
        if 0 < size <= min(len(data) - 4, _HEADER_MAX):
            try:
                meta = json.loads(data[4 : 4 + size].decode())
            except (UnicodeDecodeError, ValueError):
                meta = None
            if isinstance(meta, dict):
                return EngineFile(data[4 + size :], meta)
    return EngineFile(data, None)


def read_plan(path: Path) -> bytes:
    """The raw plan in ``path``, whether it is a raw plan or an Ultralytics engine.

    Raises:
        ArtifactError: the file is missing or empty.
    """
    try:
        data = read_bytes(path, what="engine file", limit=ARTIFACT_BYTES)
    except FileNotFoundError:
        raise ArtifactError(f"engine file {path} not found", hint="build the profile first") from None
    plan = read_engine_bytes(data).plan
    if not plan:
        raise ArtifactError(f"engine file {path} holds no plan", hint="rebuild; the file is empty or truncated")
    return plan


def ultralytics_metadata(onnx_metadata: dict[str, str], profile_name: str) -> dict[str, Any]:
    """The engine header: Ultralytics' ONNX metadata (string values, which ``AutoBackend`` parses), plus our name."""
    meta: dict[str, Any] = dict(onnx_metadata)
    meta["description"] = meta.get("description") or f"Engine Foundry build of profile {profile_name}"
    meta["engine_foundry_profile"] = profile_name
    return meta


def write_layers_json(path: Path, engine_information: str) -> int:
    """Save the inspector's JSON pretty-printed (stable for diffs); return the layer count (0 if unknown)."""
    data = json.loads(engine_information)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    layers = data.get("Layers") if isinstance(data, dict) else None
    return len(layers) if isinstance(layers, list) else 0

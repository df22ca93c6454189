"""ONNX Runtime INT8: the keyed calibration cache (the tensor ranges ``quantize_static`` computes).

Calibration runs the model on every calibration image; its result is one float range per tensor (ONNX Runtime's
``TensorsData``, saved as JSON by ``quantize_static(calibration_cache_path=...)``). That file is kept in
``<cache folder>/calibration/`` with the key sidecar and stale-cache refusal every backend shares
(:mod:`builder.backends.calibration_cache`), keyed by :class:`OrtCalibrationKey`: the exported model's digest, the
calibration images (digest, files, samples, whole batches), the method, the preprocessing and ONNX Runtime's
version. The head choice (``int8.head``) is not part of it: ranges are computed for every tensor.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.backends.calibration_cache import FOLDER, check_cache, key_as_json
from builder.backends.tensorrt.timing_cache import slug
from builder.yolo.calibration_data import PREPROCESS, CalibrationSet

SCRATCH_NAME = "ort-calibration.json"  # what quantize_static reads (a reused cache) or writes (a fresh one)


@dataclass(frozen=True)
class OrtCalibrationKey:
    """Everything ONNX Runtime's tensor ranges depend on; stored next to the cache as JSON."""

    onnxruntime: str
    method: str
    onnx_sha256: str
    data: str
    files: tuple[str, ...]
    data_sha256: str
    samples: int
    images_used: int  # whole batches only
    imgsz: tuple[int, int]
    batch: int
    preprocess: str = PREPROCESS

    def to_dict(self) -> dict[str, Any]:
        return key_as_json(self)


@dataclass(frozen=True)
class OrtCalibration:
    """Where this build's ranges come from: ``status`` is "calibrated", "reused cache", "cache off" or
    "no cache folder"; ``scratch`` is the file handed to ``quantize_static`` (a copy of a reused cache)."""

    key: OrtCalibrationKey
    status: str
    scratch: Path
    cache: Path | None
    sidecar: Path | None

    @property
    def hit(self) -> bool:
        return self.status == "reused cache"

    def details(self) -> dict[str, Any]:
        return {"status": self.status, "hit": self.hit, "cache": str(self.cache or ""), "key": self.key.to_dict()}


def calibration_key(
    data: CalibrationSet,
    folder: str,
    samples: int,
    imgsz: tuple[int, int],
    batch: int,
    onnx_sha256: str,
    *,
    version: str,
    method: str,
) -> OrtCalibrationKey:
    """The key of calibrating the model ``onnx_sha256`` on ``data`` (``int8.data`` = ``folder``)."""
    return OrtCalibrationKey(
        onnxruntime=version,
        method=method,
        onnx_sha256=onnx_sha256,
        data=folder,
        files=data.files(),
        data_sha256=data.sha256,
        samples=samples,
        images_used=data.images_used(batch),
        imgsz=(imgsz[0], imgsz[1]),
        batch=batch,
    )


def cache_paths(cache_dir: Path, profile_name: str, version: str) -> tuple[Path, Path]:
    """``(cache file, key sidecar)`` for a profile and ONNX Runtime version."""
    cache = cache_dir / FOLDER / f"{slug(profile_name)}-onnxruntime-{slug(version)}.json"
    return cache, cache.with_name(cache.name + ".key.json")


def prepare(
    key: OrtCalibrationKey, mode: str, cache_dir: Path | None, profile_name: str, scratch: Path
) -> OrtCalibration:
    """Check the cache (``mode``: ``int8.cache``) and seed ``scratch/<SCRATCH_NAME>`` from a valid one.

    Raises:
        EngineBuildError: a stale or unkeyed cache (:func:`builder.backends.calibration_cache.check_cache`).
    """
    file = scratch / SCRATCH_NAME
    file.unlink(missing_ok=True)
    if mode == "off" or cache_dir is None:
        return OrtCalibration(key, "cache off" if mode == "off" else "no cache folder", file, None, None)
    cache, sidecar = cache_paths(cache_dir, profile_name, key.onnxruntime)
    if check_cache(cache, sidecar, key) == "valid":
        shutil.copyfile(cache, file)
        return OrtCalibration(key, "reused cache", file, cache, sidecar)
    return OrtCalibration(key, "calibrated", file, cache, sidecar)

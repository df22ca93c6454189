"""INT8 calibration inputs and the keyed calibration cache (TensorRT 8.6 and 10.x).

A calibration cache holds per-tensor scales for one graph, calibrated on one data set, by one TensorRT
version (8.6 and 10 caches are incompatible) on one GPU: :class:`CalibrationKey`, kept beside the cache and checked
by the keyed cache every backend shares (:mod:`builder.calibration_cache`: a stale cache is refused, never reused
silently). The images go through :func:`builder.yolo.preprocess.calibration_batches`, the same letterbox as
inference.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.backends.tensorrt.settings import CalibrationSettings
from builder.backends.tensorrt.timing_cache import cache_key_stem, slug
from builder.backends.tensorrt.versions import TrtVersion
from builder.calibration_cache import FOLDER, check_cache, key_as_json, key_differences, publish_cache
from builder.gpu import GpuInfo
from builder.yolo.calibration_data import PREPROCESS, calibration_images, data_sha256
from builder.yolo.preprocess import ImageError

__all__ = [  # the shared cache functions are used through this module by plan.py and the tests
    "CalibrationFeed",
    "CalibrationKey",
    "cache_paths",
    "calibration_images",
    "calibration_key",
    "check_cache",
    "key_differences",
    "publish_cache",
]


@dataclass(frozen=True)
class CalibrationKey:
    """Everything a calibration cache depends on; stored next to the cache as JSON."""

    tensorrt: str
    gpu: str
    compute_capability: str
    calibrator: str
    onnx_sha256: str
    data: str
    files: tuple[str, ...]
    data_sha256: str
    samples: int
    images_used: int  # whole batches only: calibration_batches drops a partial last batch
    imgsz: tuple[int, int]
    batch: int
    preprocess: str = PREPROCESS

    def to_dict(self) -> dict[str, Any]:
        return key_as_json(self)


def calibration_key(
    settings: CalibrationSettings,
    images: Sequence[Path],
    root: Path,
    imgsz: tuple[int, int],
    version: TrtVersion,
    gpu: GpuInfo,
    onnx_sha256: str,
    digest: str = "",
) -> CalibrationKey:
    """The key of a calibration on ``images`` (under ``root``); ``digest``: their :func:`data_sha256` if known."""
    return CalibrationKey(
        tensorrt=str(version),
        gpu=gpu.name,
        compute_capability=gpu.compute_capability,
        calibrator=settings.calibrator,
        onnx_sha256=onnx_sha256,
        data=settings.data,
        files=tuple(p.relative_to(root).as_posix() for p in images),
        data_sha256=digest or data_sha256(images, root),
        samples=settings.samples,
        images_used=len(images) - len(images) % settings.batch,
        imgsz=(imgsz[0], imgsz[1]),
        batch=settings.batch,
    )


def cache_paths(cache_dir: Path, profile_name: str, gpu: GpuInfo, version: TrtVersion) -> tuple[Path, Path]:
    """``(cache file, key sidecar)`` for a profile on a GPU model and TensorRT version."""
    cache = cache_dir / FOLDER / f"{slug(profile_name)}-{cache_key_stem(gpu, version)}.cache"
    return cache, cache.with_name(cache.name + ".key.json")


class CalibrationFeed:
    """Re-iterable calibration data for Polygraphy's ``Calibrator``: ``{input_name: (batch, 3, H, W) float32}``.

    TensorRT pulls batches from inside its C++ build, where a Python exception cannot travel; an unreadable
    image therefore ends the data early and is kept in :attr:`error` for the caller to raise after the build.
    """

    def __init__(self, images: Sequence[Path], imgsz: tuple[int, int], batch: int, input_name: str) -> None:
        self.images, self.imgsz, self.batch, self.input_name = list(images), imgsz, batch, input_name
        self.error: ImageError | None = None
        self.batches_served = 0

    def __len__(self) -> int:
        return len(self.images) // self.batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from builder.yolo.preprocess import calibration_batches

        try:
            for array in calibration_batches(self.images, self.imgsz, self.batch):
                self.batches_served += 1
                yield {self.input_name: array}
        except ImageError as err:
            self.error = err

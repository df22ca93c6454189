"""INT8 calibration inputs and the keyed calibration cache (TensorRT 8.6 and 10.x).

A calibration cache holds per-tensor scales for one graph, calibrated on one data set, by one TensorRT
version (8.6 and 10 caches are incompatible) on one GPU: :class:`CalibrationKey`, kept beside the cache and checked
by the keyed cache every backend shares (:mod:`builder.backends.calibration_cache`: a stale cache is refused, never
reused
silently). The images go through :func:`builder.yolo.preprocess.calibration_batches`, the same letterbox as
inference.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.backends.calibration_cache import FOLDER, check_cache, key_as_json, key_differences, publish_cache
from builder.backends.tensorrt.settings import CalibrationSettings
from builder.backends.tensorrt.timing_cache import cache_key_stem, slug
from builder.backends.tensorrt.versions import TrtVersion
from builder.errors import EngineBuildError
from builder.machine.gpu import GpuInfo
from builder.yolo.calibration_data import PREPROCESS, calibration_images, data_sha256
from builder.yolo.preprocess import ImageError

__all__ = [  # the shared cache functions are used through this module by plan.py and the tests
    "CalibrationFeed",
    "CalibrationKey",
    "cache_paths",
    "calibration_images",
    "calibration_key",
    "check_fed",
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

    TensorRT pulls batches from inside its C++ build, where a Python exception cannot travel: Polygraphy's
    ``Calibrator.get_batch`` swallows a ``PolygraphyException`` (polygraphy 0.53.6 ``backend/trt/calibrator.py``,
    e.g. a failed copy to the GPU) and the bindings' ``getBatch`` trampoline turns any other exception into "no more
    batches" (NVIDIA/TensorRT v8.6.1 and v10.8.0 ``python/src/infer/pyInt8.cpp:52-77``). TensorRT then calibrates on
    what it got. So every exception raised while reading the data is kept in :attr:`error`, and a batch counts in
    :attr:`batches_served` only once the calibrator comes back for the next one (it got through ``get_batch``):
    :func:`check_fed` compares that count with :func:`len` after the build.
    """

    def __init__(self, images: Sequence[Path], imgsz: tuple[int, int], batch: int, input_name: str) -> None:
        self.images, self.imgsz, self.batch, self.input_name = list(images), imgsz, batch, input_name
        self.error: Exception | None = None
        self.batches_served = 0

    def __len__(self) -> int:
        return len(self.images) // self.batch

    def __iter__(self) -> Iterator[dict[str, Any]]:
        from builder.yolo.preprocess import calibration_batches

        self.error, self.batches_served = None, 0  # Polygraphy's reset() iterates again from the start
        try:
            for array in calibration_batches(self.images, self.imgsz, self.batch):
                yield {self.input_name: array}
                self.batches_served += 1  # the calibrator asked for the next batch: this one reached TensorRT
        except Exception as err:  # noqa: BLE001 - raised here, it would only end the data early (see above)
            self.error = err


def check_fed(feed: CalibrationFeed, status: str) -> None:
    """Refuse a calibration that did not see every batch (``status``: the plan's calibration status).

    A reused cache pulls no batches; any other status calibrated and must have served ``len(feed)``.

    Raises:
        ImageError: an image could not be read (the feed's own error).
        EngineBuildError: any other error in the feed, or fewer (or more) batches than expected.
    """
    if isinstance(feed.error, ImageError):
        raise feed.error
    if feed.error is None and (
        feed.batches_served == len(feed) or (status == "reused cache" and feed.batches_served == 0)
    ):
        return
    cause = f": {type(feed.error).__name__}: {feed.error}" if feed.error is not None else ""
    raise EngineBuildError(
        f"INT8 calibration ran short: TensorRT got {feed.batches_served} of {len(feed)} calibration batch(es) "
        f"({feed.batch} image(s) each){cause}; an engine calibrated on part of the data is not kept, and no "
        "calibration cache is written",
        hint="fix the cause above and build again; if TensorRT stopped asking for batches with no error here, "
        "the TensorRT log (build details) says why (e.g. a failed copy to the GPU)",
    ) from feed.error

"""INT8 calibration inputs and the keyed calibration cache (TensorRT 8.6 and 10.x).

A calibration cache holds per-tensor scales for one graph, calibrated on one data set, by one TensorRT
version (8.6 and 10 caches are incompatible) on one GPU. The cache file therefore has a JSON *key sidecar*
(``<cache>.key.json``); a cache whose sidecar is missing or differs from the current key is refused, never
reused silently. The images go through :func:`builder.yolo.preprocess.calibration_batches`, the same
letterbox as inference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from builder.backends.tensorrt.settings import CalibrationSettings
from builder.backends.tensorrt.timing_cache import cache_key_stem, slug
from builder.backends.tensorrt.versions import TrtVersion
from builder.errors import EngineBuildError
from builder.gpu import GpuInfo
from builder.hashing import sha256_file
from builder.safe_io import CACHE_BYTES, IMAGE_BYTES, FileReadError, read_bytes, read_json
from builder.yolo.preprocess import ImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
PREPROCESS = "ultralytics letterbox (114 pad), BGR->RGB, /255, NCHW float32"
FOLDER = "calibration"


def calibration_images(data_dir: Path, samples: int) -> list[Path]:
    """The first ``samples`` images under ``data_dir`` (recursive), sorted by relative path.

    Raises:
        ImageError: the folder is missing, holds no images, or fewer than ``samples``.
    """
    if not data_dir.is_dir():
        raise ImageError(
            f"INT8 calibration folder {data_dir} does not exist",
            hint="put calibration images there (relative to the models folder) or fix `int8.data` in the profile",
        )
    found = sorted(
        (p for p in data_dir.rglob("*") if p.exists() and not p.is_dir() and p.suffix.lower() in IMAGE_SUFFIXES),
        key=lambda p: p.relative_to(data_dir).as_posix(),
    )
    if not found:
        raise ImageError(
            f"INT8 calibration folder {data_dir} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})",
            hint="add a few hundred representative images (500 is TensorRT's usual advice)",
        )
    if len(found) < samples:
        raise ImageError(
            f"INT8 calibration folder {data_dir} holds {len(found)} image(s), but `int8.samples` asks for {samples}",
            hint=f"add {samples - len(found)} more image(s), or set `int8.samples: {len(found)}`",
        )
    return found[:samples]


def data_sha256(images: Sequence[Path], root: Path) -> str:
    """Digest of the calibration set: each image's relative path and content sha256, in order."""
    digest = hashlib.sha256()
    for path in images:
        digest.update(
            f"{path.relative_to(root).as_posix()}\0{sha256_file(path, what='image', limit=IMAGE_BYTES)}\n".encode()
        )
    return digest.hexdigest()


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
        data = asdict(self)
        data["files"], data["imgsz"] = list(self.files), list(self.imgsz)
        return data


def calibration_key(
    settings: CalibrationSettings,
    images: Sequence[Path],
    root: Path,
    imgsz: tuple[int, int],
    version: TrtVersion,
    gpu: GpuInfo,
    onnx_sha256: str,
) -> CalibrationKey:
    return CalibrationKey(
        tensorrt=str(version),
        gpu=gpu.name,
        compute_capability=gpu.compute_capability,
        calibrator=settings.calibrator,
        onnx_sha256=onnx_sha256,
        data=settings.data,
        files=tuple(p.relative_to(root).as_posix() for p in images),
        data_sha256=data_sha256(images, root),
        samples=settings.samples,
        images_used=len(images) - len(images) % settings.batch,
        imgsz=(imgsz[0], imgsz[1]),
        batch=settings.batch,
    )


def cache_paths(cache_dir: Path, profile_name: str, gpu: GpuInfo, version: TrtVersion) -> tuple[Path, Path]:
    """``(cache file, key sidecar)`` for a profile on a GPU model and TensorRT version."""
    cache = cache_dir / FOLDER / f"{slug(profile_name)}-{cache_key_stem(gpu, version)}.cache"
    return cache, cache.with_name(cache.name + ".key.json")


def key_differences(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Names of the key fields that differ, with short values shown."""
    out = []
    for name in sorted(set(stored) | set(current)):
        old, new = stored.get(name), current.get(name)
        if old != new:
            shown = f"{old!r} -> {new!r}" if len(repr(old)) + len(repr(new)) < 120 else "changed"
            out.append(f"{name} ({shown})")
    return out


def check_cache(cache: Path, sidecar: Path, key: CalibrationKey) -> str:
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


def publish_cache(calibrated: Path, cache: Path, sidecar: Path, key: CalibrationKey) -> None:
    """Store a fresh calibration cache and its key sidecar (each written atomically, cache first)."""
    from builder.atomic import write_bytes_atomic
    from builder.manifest import write_json_atomic

    write_bytes_atomic(cache, read_bytes(calibrated, what="calibration cache", limit=CACHE_BYTES))
    write_json_atomic(sidecar, key.to_dict())


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

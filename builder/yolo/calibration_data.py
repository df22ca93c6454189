"""Calibration images for INT8, shared by every backend (TensorRT's calibrator, ONNX Runtime's quantizer).

The images under ``int8.data`` (recursive, sorted by relative path, the first ``int8.samples``) and a digest of
them; they are preprocessed by :func:`builder.yolo.preprocess.calibration_batches`, the same letterbox as inference.
The digest joins the build key (:func:`builder.record.buildkey.build_key_for`, ``calibration_data_sha256``), is computed
there once per build, and is handed to the backends' calibration cache keys through :func:`calibration_set`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.common.hashing import sha256_file
from builder.common.safe_io import IMAGE_BYTES
from builder.yolo.preprocess import ImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
PREPROCESS = "ultralytics letterbox (114 pad), BGR->RGB, /255, NCHW float32"  # calibration_batches, keyed
KEY_INPUT = "calibration_data_sha256"  # the build key input holding :func:`data_sha256` of the selected images


@dataclass(frozen=True)
class CalibrationSet:
    """The images a build calibrates on, their folder and their :func:`data_sha256`."""

    root: Path
    images: tuple[Path, ...]
    sha256: str

    def files(self) -> tuple[str, ...]:
        return tuple(p.relative_to(self.root).as_posix() for p in self.images)

    def images_used(self, batch: int) -> int:
        """Whole batches only: :func:`builder.yolo.preprocess.calibration_batches` drops a partial last batch."""
        return len(self.images) - len(self.images) % batch


def calibration_set(
    models_dir: Path, data: str, samples: int, key_inputs: Mapping[str, object] | None = None
) -> CalibrationSet:
    """The calibration images of ``int8.data`` / ``int8.samples`` and their digest.

    ``key_inputs``: the build key's inputs (the manifest's ``key_inputs``); their :data:`KEY_INPUT` is the digest
    already computed for this build, so the images are hashed once per build. Without it they are hashed here.

    Raises:
        ImageError: see :func:`calibration_images`.
    """
    root = models_dir / data
    images = tuple(calibration_images(root, samples))
    known = (key_inputs or {}).get(KEY_INPUT)
    return CalibrationSet(root, images, known if isinstance(known, str) and known else data_sha256(images, root))


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

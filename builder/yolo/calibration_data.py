"""Calibration images for INT8, shared by every backend (TensorRT's calibrator, ONNX Runtime's quantizer).

The images under ``int8.data`` (recursive, sorted by relative path, the first ``int8.samples``) and a digest of
them; they are preprocessed by :func:`builder.yolo.preprocess.calibration_batches`, the same letterbox as inference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from builder.hashing import sha256_file
from builder.safe_io import IMAGE_BYTES
from builder.yolo.preprocess import ImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


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

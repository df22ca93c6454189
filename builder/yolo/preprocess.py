"""Image preprocessing identical to ultralytics' predictor: letterbox, RGB, /255, NCHW.

Used for verification inputs and (by the TensorRT backend) INT8 calibration, so a
deployed model sees exactly the tensors ultralytics would feed it.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from builder.common.safe_io import IMAGE_BYTES, read_bytes
from builder.errors import BuilderError, ExitCode

if TYPE_CHECKING:
    import numpy as np

PAD_COLOR = (114, 114, 114)


class ImageError(BuilderError):
    """A sample or calibration image that is missing or unreadable."""

    exit_code = ExitCode.USAGE


def letterbox(image: np.ndarray, new_shape: tuple[int, int], color: tuple[int, int, int] = PAD_COLOR) -> np.ndarray:
    """Resize keeping the aspect ratio, then pad to ``new_shape`` (height, width).

    Bit-identical to ``ultralytics.data.augment.LetterBox(new_shape, auto=False,
    scale_fill=False, scaleup=True, center=True)`` on a BGR HxWx3 uint8 image:
    same Python ``round`` on the scaled size (at least 1 pixel), linear resize,
    and the odd padding pixel going to the bottom/right.
    """
    import cv2

    height, width = image.shape[:2]
    ratio = min(new_shape[0] / height, new_shape[1] / width)
    unpadded = (max(round(width * ratio), 1), max(round(height * ratio), 1))  # (w, h), as cv2 wants
    pad_w = (new_shape[1] - unpadded[0]) / 2
    pad_h = (new_shape[0] - unpadded[1]) / 2
    if (width, height) != unpadded:
        image = cv2.resize(image, unpadded, interpolation=cv2.INTER_LINEAR)
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)


def image_to_tensor(image_bgr: np.ndarray, imgsz: tuple[int, int]) -> np.ndarray:
    """Letterbox a BGR uint8 image to ``imgsz`` (height, width); return float32 (1, 3, H, W) RGB in [0, 1]."""
    import numpy as np

    boxed = letterbox(image_bgr, imgsz)
    chw = boxed[..., ::-1].transpose(2, 0, 1)  # BGR HWC -> RGB CHW
    return np.ascontiguousarray(chw[None].astype(np.float32) / np.float32(255.0))


def load_image(path: Path) -> np.ndarray:
    """Read an image as BGR HxWx3 uint8.

    Raises:
        ImageError: the file is missing or not an image OpenCV can decode.
    """
    import cv2
    import numpy as np

    try:  # bounded and regular files only (safe_io); decoded from memory as ultralytics' own imread does
        data = read_bytes(path, what="image", limit=IMAGE_BYTES)
    except FileNotFoundError:
        raise ImageError(
            f"image {path} not found", hint="check the image name in the profile and the models folder"
        ) from None
    except OSError as err:
        raise ImageError(
            f"image {path} cannot be read ({err.strerror})",
            hint="make the image readable by the user that runs the build",
        ) from None
    try:
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error as err:  # OpenCV refuses a header it will not decode (e.g. more than CV_IO_MAX_IMAGE_PIXELS)
        raise _refused(path, err) from None
    if image is None:
        raise ImageError(
            f"image {path} could not be decoded",
            hint="use a JPEG or PNG file that OpenCV can read; replace the file if it is truncated",
        )
    return image


def _refused(path: Path, err: Exception) -> ImageError:
    """The image error for an image OpenCV refuses to decode; its pixel cap is named when that is the reason."""
    reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    if "CV_IO_MAX_IMAGE_PIXELS" in reason:
        limit = os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", str(1 << 30))
        return ImageError(
            f"image {path} has more pixels than OpenCV decodes (its header declares more than {limit} pixels)",
            hint="use a sample image of normal size (a few megapixels; it is letterboxed to imgsz anyway)",
        )
    return ImageError(
        f"image {path} could not be decoded ({reason})",
        hint="use a JPEG or PNG file that OpenCV can read; replace the file if it is damaged",
    )


def ultralytics_assets() -> Path:
    """ultralytics' ``ASSETS`` folder (bus.jpg, zidane.jpg), found without importing ultralytics."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise ImageError(
            "ultralytics is not installed, so its sample images are unavailable",
            hint="run inside the builder image, or name images under the models folder",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "assets"


def sample_image_paths(names: Sequence[str], models_dir: Path) -> list[Path]:
    """Resolve sample image names in order.

    A bare file name (``bus.jpg``) is looked up in ultralytics' assets first;
    anything else, or a bare name not among the assets, is relative to
    ``models_dir``.

    Raises:
        ImageError: an image exists in neither place.
    """
    paths: list[Path] = []
    for name in names:
        candidates = [models_dir / name]
        if Path(name).name == name:
            candidates.insert(0, ultralytics_assets() / name)
        found = next((c for c in candidates if c.is_file()), None) or next((c for c in candidates if c.exists()), None)
        if found is None:
            tried = ", ".join(str(c) for c in candidates)
            raise ImageError(
                f"sample image {name!r} not found (looked at {tried})",
                hint="put the image under the models folder, or use one of ultralytics' assets (bus.jpg, zidane.jpg)",
            )
        paths.append(found)
    return paths


def calibration_batches(paths: Sequence[Path], imgsz: tuple[int, int], batch: int) -> Iterator[np.ndarray]:
    """Yield float32 (batch, 3, H, W) tensors of preprocessed images, in the order given.

    Only full batches are yielded: the last ``len(paths) % batch`` images are
    dropped (a calibrator feeds a fixed batch shape, and ultralytics' own
    calibration loader drops the last batch too). Pass the paths sorted for a
    reproducible calibration.

    Raises:
        ImageError: fewer images than one batch (raised at the call), or an image that
            cannot be read (raised when its batch is reached).
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if len(paths) < batch:
        raise ImageError(
            f"calibration needs at least {batch} image(s) for one batch, found {len(paths)}",
            hint="add images to the calibration folder or lower the batch size",
        )
    return _batches(list(paths), imgsz, batch)


def _batches(paths: list[Path], imgsz: tuple[int, int], batch: int) -> Iterator[np.ndarray]:
    import numpy as np

    for start in range(0, len(paths) - batch + 1, batch):
        tensors = [image_to_tensor(load_image(p), imgsz) for p in paths[start : start + batch]]
        yield np.concatenate(tensors, axis=0)

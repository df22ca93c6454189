"""INT8 calibration: image selection, the keyed cache with its sidecar, and the data fed to TensorRT."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from builder.backends.tensorrt.calibration import (
    CalibrationFeed,
    cache_paths,
    calibration_images,
    calibration_key,
    check_cache,
    key_differences,
    publish_cache,
)
from builder.backends.tensorrt.settings import CalibrationSettings
from builder.backends.tensorrt.versions import parse_trt_version
from builder.errors import EngineBuildError
from builder.yolo.preprocess import ImageError, ultralytics_assets
from tests.backends.tensorrt.trt_fakes import H100, T4

V86 = parse_trt_version("8.6.1.6")


def calib_folder(root: Path, copies: int = 2) -> Path:
    """bus.jpg and zidane.jpg (ultralytics assets), ``copies`` times each, in nested folders, plus non-images."""
    folder = root / "calib"
    for i in range(copies):
        (folder / f"set{i}").mkdir(parents=True)
        for name in ("bus.jpg", "zidane.jpg"):
            shutil.copyfile(ultralytics_assets() / name, folder / f"set{i}" / name)
    (folder / "labels.txt").write_text("not an image")
    return folder


def settings(samples: int = 4, batch: int = 2, cache: str = "auto") -> CalibrationSettings:
    return CalibrationSettings("calib", samples, batch, "IInt8MinMaxCalibrator", True, cache)


def test_images_are_sorted_recursive_and_counted(tmp_path: Path) -> None:
    folder = calib_folder(tmp_path)
    images = calibration_images(folder, 3)
    assert [p.relative_to(folder).as_posix() for p in images] == ["set0/bus.jpg", "set0/zidane.jpg", "set1/bus.jpg"]
    with pytest.raises(ImageError) as err:
        calibration_images(folder, 5)
    assert "holds 4 image(s)" in err.value.message and "`int8.samples: 4`" in (err.value.hint or "")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="holds no images"):
        calibration_images(tmp_path / "empty", 1)
    with pytest.raises(ImageError, match="does not exist"):
        calibration_images(tmp_path / "missing", 1)


def test_key_covers_data_content_and_is_stable(tmp_path: Path) -> None:
    folder = calib_folder(tmp_path)
    images = calibration_images(folder, 4)
    key = calibration_key(settings(), images, folder, (64, 64), V86, H100, "ab" * 32)
    again = calibration_key(settings(), calibration_images(folder, 4), folder, (64, 64), V86, H100, "ab" * 32)
    assert key == again and key.images_used == 4 and key.files[0] == "set0/bus.jpg"
    assert key.tensorrt == "8.6.1.6" and key.gpu == H100.name and key.compute_capability == "9.0"
    odd = calibration_key(settings(samples=3), calibration_images(folder, 3), folder, (64, 64), V86, H100, "ab" * 32)
    assert odd.images_used == 2  # whole batches of 2 only
    (folder / "set1" / "bus.jpg").write_bytes((folder / "set0" / "zidane.jpg").read_bytes())
    changed = calibration_key(settings(), images, folder, (64, 64), V86, H100, "ab" * 32)
    assert changed.data_sha256 != key.data_sha256 and changed.files == key.files
    assert key_differences(key.to_dict(), changed.to_dict()) == ["data_sha256 (changed)"]


def test_cache_is_reused_only_with_a_matching_sidecar(tmp_path: Path) -> None:
    folder = calib_folder(tmp_path)
    images = calibration_images(folder, 4)
    key = calibration_key(settings(), images, folder, (64, 64), V86, H100, "ab" * 32)
    cache, sidecar = cache_paths(tmp_path / "cache", "yolo-int8", H100, V86)
    assert (
        cache.name == "yolo-int8-nvidia-h100-80gb-hbm3-sm90-trt8.6.1.cache" and sidecar.name == cache.name + ".key.json"
    )
    assert cache_paths(tmp_path / "cache", "yolo-int8", T4, V86)[0] != cache
    assert check_cache(cache, sidecar, key) == "absent"

    calibrated = tmp_path / "scratch.cache"
    calibrated.write_bytes(b"TRT-8601-MinMaxCalibration\nimages: 3c010a14\n")
    publish_cache(calibrated, cache, sidecar, key)
    assert cache.read_bytes() == calibrated.read_bytes() and json.loads(sidecar.read_text()) == key.to_dict()
    assert check_cache(cache, sidecar, key) == "valid"

    for other in (
        calibration_key(settings(), images, folder, (64, 64), parse_trt_version("10.0.1.6"), H100, "ab" * 32),
        calibration_key(settings(), images, folder, (64, 64), V86, T4, "ab" * 32),
        calibration_key(settings(), images, folder, (96, 96), V86, H100, "ab" * 32),
        calibration_key(settings(batch=4), images, folder, (64, 64), V86, H100, "ab" * 32),
        calibration_key(settings(), images, folder, (64, 64), V86, H100, "cd" * 32),
    ):
        with pytest.raises(EngineBuildError) as err:
            check_cache(cache, sidecar, other)
        assert "made for other inputs; it is not reused" in err.value.message
        assert f"delete {cache}" in (err.value.hint or "")
    with pytest.raises(EngineBuildError, match=r"tensorrt \('8.6.1.6' -> '10.0.1.6'\)"):
        check_cache(
            cache,
            sidecar,
            calibration_key(settings(), images, folder, (64, 64), parse_trt_version("10.0.1.6"), H100, "ab" * 32),
        )

    sidecar.write_text("{not json")
    with pytest.raises(EngineBuildError, match="unreadable"):
        check_cache(cache, sidecar, key)
    sidecar.unlink()
    with pytest.raises(EngineBuildError, match="has no key file"):
        check_cache(cache, sidecar, key)


def _ultralytics_preprocess(path: Path, imgsz: tuple[int, int]) -> np.ndarray:
    """What ultralytics' predictor feeds a model: LetterBox(auto=False), BGR->RGB, HWC->CHW, /255."""
    import cv2
    from ultralytics.data.augment import LetterBox

    image = LetterBox(imgsz, auto=False, stride=32)(image=cv2.imread(str(path)))
    return np.ascontiguousarray(image[..., ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255.0


def test_calibration_data_is_exactly_ultralytics_preprocessing(tmp_path: Path) -> None:
    folder = calib_folder(tmp_path, copies=1)
    images = calibration_images(folder, 2)
    feed = CalibrationFeed(images, (64, 96), 2, "images")
    batches = list(feed)
    assert len(feed) == 1 and len(batches) == 1 and list(batches[0]) == ["images"]
    data = batches[0]["images"]
    assert data.shape == (2, 3, 64, 96) and data.dtype == np.float32
    reference = np.concatenate([_ultralytics_preprocess(p, (64, 96)) for p in images])
    np.testing.assert_array_equal(data, reference)
    assert [b["images"].shape for b in feed] == [(2, 3, 64, 96)]  # re-iterable: Polygraphy calls iter() again on reset
    assert len(list(CalibrationFeed(images, (64, 64), 1, "x"))) == 2

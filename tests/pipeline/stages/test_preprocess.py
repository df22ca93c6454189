"""preprocess.py against ultralytics' own LetterBox and predictor preprocessing, on the real asset images."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tests.pipeline.stages.helpers  # noqa: F401  (environment for ultralytics)
from builder.errors import BuilderError
from builder.yolo.preprocess import (
    ImageError,
    calibration_batches,
    image_to_tensor,
    letterbox,
    load_image,
    sample_image_paths,
    ultralytics_assets,
)

SIZES = [(64, 64), (640, 640), (320, 640), (640, 320), (96, 160), (33, 47), (1088, 800)]
ASSET_NAMES = ["bus.jpg", "zidane.jpg"]


def _ultralytics_tensor(image: np.ndarray, imgsz: tuple[int, int]) -> np.ndarray:
    """ultralytics' BasePredictor.preprocess for a static-shape exported model (format onnx, CPU, FP32)."""
    import torch
    from ultralytics.engine.predictor import BasePredictor

    predictor = BasePredictor(overrides={"imgsz": list(imgsz)})
    predictor.imgsz = imgsz
    predictor.device = torch.device("cpu")
    predictor.model = SimpleNamespace(fp16=False, stride=32, format="onnx", dynamic=False)
    return predictor.preprocess([image.copy()]).numpy()


def test_assets_folder_is_ultralytics_assets() -> None:
    from ultralytics.utils import ASSETS

    assert ultralytics_assets() == Path(ASSETS)


@pytest.mark.parametrize("name", ASSET_NAMES)
@pytest.mark.parametrize("imgsz", SIZES)
def test_letterbox_is_bit_identical_to_ultralytics(name: str, imgsz: tuple[int, int]) -> None:
    from ultralytics.data.augment import LetterBox

    image = load_image(ultralytics_assets() / name)
    expected = LetterBox(imgsz, auto=False, scale_fill=False, scaleup=True, center=True, stride=32)(image=image.copy())
    got = letterbox(image, imgsz)
    assert got.shape == (*imgsz, 3)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("name", ASSET_NAMES)
@pytest.mark.parametrize("imgsz", SIZES)
def test_image_to_tensor_is_bit_identical_to_ultralytics_predictor(name: str, imgsz: tuple[int, int]) -> None:
    image = load_image(ultralytics_assets() / name)
    got = image_to_tensor(image, imgsz)
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert got.shape == (1, 3, *imgsz)
    np.testing.assert_array_equal(got, _ultralytics_tensor(image, imgsz))


def test_letterbox_pads_with_color_and_keeps_tiny_images() -> None:
    image = np.full((1, 300, 3), 7, dtype=np.uint8)  # 1 px high: still at least one resized row
    boxed = letterbox(image, (64, 64), color=(1, 2, 3))
    assert boxed.shape == (64, 64, 3)
    assert (boxed == 7).all(axis=2).sum() == 64  # one 64-pixel row of content
    assert tuple(boxed[0, 0]) == (1, 2, 3)


def test_load_image_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    with pytest.raises(ImageError, match="nope.jpg") as info:
        load_image(missing)
    assert info.value.hint
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"not an image")
    with pytest.raises(ImageError, match="garbage.jpg.*could not be decoded"):
        load_image(garbage)
    assert issubclass(ImageError, BuilderError)


def test_sample_image_paths_resolves_assets_then_models_dir(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    own = tmp_path / "sub" / "mine.jpg"
    own.write_bytes((ultralytics_assets() / "bus.jpg").read_bytes())
    local = tmp_path / "local.jpg"
    local.write_bytes(own.read_bytes())
    paths = sample_image_paths(["bus.jpg", "sub/mine.jpg", "local.jpg"], tmp_path)
    assert paths == [ultralytics_assets() / "bus.jpg", own, local]
    with pytest.raises(ImageError, match="missing.jpg") as info:
        sample_image_paths(["bus.jpg", "missing.jpg"], tmp_path)
    assert str(tmp_path) in info.value.message


def test_calibration_batches_drop_the_last_partial_batch(tmp_path: Path) -> None:
    paths = [ultralytics_assets() / n for n in ("bus.jpg", "zidane.jpg", "bus.jpg", "zidane.jpg", "bus.jpg")]
    batches = list(calibration_batches(paths, (64, 96), 2))
    assert [b.shape for b in batches] == [(2, 3, 64, 96), (2, 3, 64, 96)]
    assert all(b.dtype == np.float32 for b in batches)
    np.testing.assert_array_equal(batches[1][0], image_to_tensor(load_image(paths[2]), (64, 96))[0])
    np.testing.assert_array_equal(batches[0][1], image_to_tensor(load_image(paths[1]), (64, 96))[0])


def test_calibration_batches_need_one_full_batch() -> None:
    with pytest.raises(ImageError, match="at least 4 image"):
        calibration_batches([ultralytics_assets() / "bus.jpg"], (64, 64), 4)

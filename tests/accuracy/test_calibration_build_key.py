"""INT8 calibration images join the build key (builder/record/buildkey.py, builder/yolo/calibration_data.py): the images
``int8.samples`` selects, by content; other profiles' keys and an unchanged set keep their keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from builder.farm.run import _key_function
from builder.machine.gpu import gpu_identity
from builder.profile import Backend, Int8Spec, Precision
from builder.record.buildkey import build_key_for
from builder.yolo.calibration_data import KEY_INPUT, calibration_images, calibration_set, data_sha256
from builder.yolo.preprocess import ImageError
from tests.backends.tensorrt.trt_fakes import H100
from tests.support import make_profile

SAMPLES = 3


def _write_image(path: Path, seed: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (24, 32, 3), dtype=np.uint8))


@pytest.fixture()
def models(tmp_path: Path) -> Path:
    for i in range(4):  # 00..03; samples=3 selects 00, 01, 02
        _write_image(tmp_path / "calib" / f"{i:02d}.png", i)
    return tmp_path


ORT_INT8 = make_profile(name="ort-int8", precision=Precision.INT8, int8=Int8Spec("calib", samples=SAMPLES))
TRT_INT8 = make_profile(
    name="trt-int8", backend=Backend.TENSORRT, precision=Precision.INT8, int8=Int8Spec("calib", samples=SAMPLES)
)
FP32 = make_profile()


def _keys(models: Path) -> dict[str, str]:
    return {p.name: build_key_for(p, models, "img", gpus=lambda: [H100]).key for p in (ORT_INT8, TRT_INT8, FP32)}


def test_the_key_input_is_the_digest_of_the_selected_images(models: Path) -> None:
    selected = calibration_images(models / "calib", SAMPLES)
    assert [p.name for p in selected] == ["00.png", "01.png", "02.png"]
    for profile in (ORT_INT8, TRT_INT8):
        inputs = build_key_for(profile, models, "img", gpus=lambda: [H100]).inputs
        assert inputs[KEY_INPUT] == data_sha256(selected, models / "calib")
    assert KEY_INPUT not in build_key_for(FP32, models, "img", gpus=list).inputs


def test_an_unchanged_set_keeps_every_key(models: Path) -> None:
    assert _keys(models) == _keys(models)


def test_editing_a_selected_image_changes_only_the_int8_keys(models: Path) -> None:
    before = _keys(models)
    _write_image(models / "calib" / "01.png", 99)
    after = _keys(models)
    assert after["ort-int8"] != before["ort-int8"] and after["trt-int8"] != before["trt-int8"]
    assert after["test-cpu"] == before["test-cpu"]


def test_adding_an_image_counts_only_where_samples_selects_it(models: Path) -> None:
    before = _keys(models)
    _write_image(models / "calib" / "zz.png", 5)  # sorts after the three selected
    assert _keys(models) == before
    _write_image(models / "calib" / "00a.png", 6)  # sorts second: the selection shifts
    after = _keys(models)
    assert after["ort-int8"] != before["ort-int8"] and after["test-cpu"] == before["test-cpu"]
    assert (
        build_key_for(ORT_INT8, models, "img", gpus=list).inputs[KEY_INPUT]
        == calibration_set(models, "calib", SAMPLES).sha256
    )


def test_a_missing_calibration_folder_stops_the_key_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist") as caught:
        build_key_for(ORT_INT8, tmp_path, "img", gpus=list)
    assert caught.value.hint


def test_the_farm_computes_the_key_the_build_computes(models: Path) -> None:
    for profile in (ORT_INT8, TRT_INT8, FP32):
        expected = build_key_for(profile, models, "img", gpus=lambda: [H100], environment_id="env-1").key
        facts = {"gpu_identity": gpu_identity([H100])}
        assert _key_function(profile, facts, models)("env-1") == expected


def test_the_build_hands_its_digest_on_instead_of_hashing_again(models: Path) -> None:
    inputs = build_key_for(ORT_INT8, models, "img", gpus=list).inputs
    handed = calibration_set(models, "calib", SAMPLES, inputs)
    assert handed.sha256 == inputs[KEY_INPUT] and handed.files() == ("00.png", "01.png", "02.png")
    assert calibration_set(models, "calib", SAMPLES, {KEY_INPUT: "x" * 64}).sha256 == "x" * 64  # taken as given
    assert calibration_set(models, "calib", SAMPLES, {}).sha256 == inputs[KEY_INPUT]  # no key inputs: hashed here

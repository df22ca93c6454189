"""Issue 10, item 9, on the backend side: the two TensorRT images keep their caches apart, and a profile that asks
for TensorRT 10 is refused in an image of an older TensorRT.

Versions are those of the bases: NGC tensorrt 23.08 = TensorRT 8.6.1.6 (NVIDIA/TensorRT@23.08:VERSION), NGC 25.01 =
TensorRT 10.8.0.43 (Triton compatibility table, row 25.01). The B200 line is what ``nvidia-smi --query-gpu=name``
reports for a DGX B200 GPU; its compute capability, 10.0, is NVIDIA's CUDA GPUs table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.backends.tensorrt.calibration import cache_paths, calibration_key, check_cache, publish_cache
from builder.backends.tensorrt.settings import CalibrationSettings
from builder.backends.tensorrt.timing_cache import timing_cache_path
from builder.backends.tensorrt.versions import check_profile_supported, parse_trt_version
from builder.errors import EngineBuildError, HostEnvironmentError
from builder.machine.gpu import GpuInfo
from builder.profile import Backend, Precision
from tests.support import make_profile

B200 = GpuInfo(0, "NVIDIA B200", "GPU-0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "10.0", 183359, "570.124.06")
TRT86 = parse_trt_version("8.6.1.6")  # the trt image (NGC 23.08)
TRT108 = parse_trt_version("10.8.0.43")  # the trt10 image (NGC 25.01)


def trt_profile(**kw: object):
    return make_profile(backend=Backend.TENSORRT, name="b200-fp16", precision=Precision.FP16, **kw)


def test_timing_caches_of_the_two_images_are_separate_files(tmp_path: Path) -> None:
    old, new = (timing_cache_path(tmp_path, "default", B200, v) for v in (TRT86, TRT108))
    assert old.name == "default-nvidia-b200-sm100-trt8.6.1.cache"
    assert new.name == "default-nvidia-b200-sm100-trt10.8.0.cache" and old != new


def test_calibration_caches_of_the_two_images_are_separate_and_keyed(tmp_path: Path) -> None:
    folder = tmp_path / "calib"
    folder.mkdir()
    image = folder / "a.jpg"
    image.write_bytes(b"\xff\xd8 not decoded here")
    calib = CalibrationSettings("calib", 1, 1, "IInt8MinMaxCalibrator", True, "auto")
    keys = {v: calibration_key(calib, [image], folder, (64, 64), v, B200, "ab" * 32) for v in (TRT86, TRT108)}
    paths = {v: cache_paths(tmp_path, "b200-int8", B200, v) for v in (TRT86, TRT108)}
    assert paths[TRT86][0] != paths[TRT108][0] and paths[TRT86][1] != paths[TRT108][1]
    # a cache made by the 8.6 image, copied to the 10.8 image's path, is refused by its key
    calibrated = tmp_path / "made.cache"
    calibrated.write_bytes(b"TRT-8601-MinMaxCalibration\n")
    publish_cache(calibrated, *paths[TRT108], keys[TRT86])
    with pytest.raises(EngineBuildError, match=r"tensorrt \('8.6.1.6' -> '10.8.0.43'\)"):
        check_cache(*paths[TRT108], keys[TRT108])


def test_a_tensorrt_10_profile_is_refused_in_an_older_tensorrt() -> None:
    for older in ("8.6.1.6", "10.0.1.6", "10.7.0.23"):
        with pytest.raises(HostEnvironmentError, match=rf"asks for TensorRT 10 .* older TensorRT {older}") as err:
            check_profile_supported(trt_profile(tensorrt="10"), parse_trt_version(older))
        assert "make image FLAVOUR=trt10" in (err.value.hint or "")
    assert check_profile_supported(trt_profile(tensorrt="10"), TRT108).family == "10"
    assert check_profile_supported(trt_profile(tensorrt="10", opset=20), TRT108).max_onnx_opset == 20


def test_a_tensorrt_86_profile_still_builds_in_a_newer_tensorrt() -> None:
    # `tensorrt: "8.6"` picks the trt image; an image of a newer TensorRT (--image) is not refused for it
    assert check_profile_supported(trt_profile(tensorrt="8.6"), TRT86).family == "8.6"
    assert check_profile_supported(trt_profile(tensorrt="8.6"), TRT108).family == "10"

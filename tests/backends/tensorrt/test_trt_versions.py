"""Version gates for TensorRT 8.6 / 10.x / 11.x, decided from version strings."""

from __future__ import annotations

import pytest

from builder.backends.tensorrt.versions import (
    TrtVersion,
    check_profile_supported,
    features_for,
    max_onnx_opset,
    parse_trt_version,
)
from builder.errors import ExitCode, HostEnvironmentError
from builder.profile import Backend, Int8Spec, Precision
from tests.support import make_profile


def trt_profile(**kw: object):
    return make_profile(backend=Backend.TENSORRT, name="yolo-trt", **kw)


@pytest.mark.parametrize(
    "text, parts, short",
    [
        ("8.6.1", (8, 6, 1, 0), "8.6.1"),
        ("8.6.1.6", (8, 6, 1, 6), "8.6.1"),
        ("10.0.1.6", (10, 0, 1, 6), "10.0.1"),
        ("10.13.0.35", (10, 13, 0, 35), "10.13.0"),
        ("11.0.0.114", (11, 0, 0, 114), "11.0.0"),
        ("10.3.0.post1", (10, 3, 0, 0), "10.3.0"),
        ("10.8", (10, 8, 0, 0), "10.8.0"),
    ],
)
def test_parse(text: str, parts: tuple[int, ...], short: str) -> None:
    version = parse_trt_version(text)
    assert (version.major, version.minor, version.patch, version.build) == parts
    assert version.short == short and str(version) == text


def test_parse_rejects_garbage_and_versions_order() -> None:
    for bad in ("", "ten", "v8.6", "8"):
        with pytest.raises(ValueError):
            parse_trt_version(bad)
    assert parse_trt_version("8.6.1.6") < parse_trt_version("10.0.1.6") < parse_trt_version("10.13.0.35")
    assert parse_trt_version("10.0.1") == TrtVersion(10, 0, 1, 0)


def test_network_flags_and_api_gates_per_version() -> None:
    v86, v10, v11 = (features_for(parse_trt_version(t)) for t in ("8.6.1.6", "10.8.0.43", "11.0.0.114"))
    assert v86.network_flags == ("EXPLICIT_BATCH",) and v10.network_flags == () and v11.network_flags == ()
    assert (v86.precision_flags, v10.precision_flags, v11.precision_flags) == (True, True, False)
    assert (v86.calibration_profile, v10.calibration_profile) == (True, False)
    assert (v86.family, v10.family, v11.family) == ("8.6", "10", "11")


@pytest.mark.parametrize(
    "text, opset",
    [("8.6.1.6", 17), ("10.0.1.6", 20), ("10.13.0.35", 20), ("10.15.1", 24), ("11.0.0.114", 24), ("11.5.0", 25)],
)
def test_max_onnx_opset(text: str, opset: int) -> None:
    assert max_onnx_opset(parse_trt_version(text)) == opset


@pytest.mark.parametrize("text", ["8.5.3.1", "8.4.1", "9.3.0.1", "7.2.3", "12.0.0"])
def test_unsupported_versions_are_refused_with_the_image_hint(text: str) -> None:
    with pytest.raises(HostEnvironmentError) as err:
        features_for(parse_trt_version(text))
    assert f"TensorRT {text} is not supported" in err.value.message
    assert "make image FLAVOUR=trt" in (err.value.hint or "") and err.value.exit_code == ExitCode.ENVIRONMENT


def test_fp16_on_trt11_is_accepted_the_precision_comes_from_the_onnx() -> None:
    # TensorRT 11 has no BuilderFlag.FP16: the build converts the ONNX (explicit.make_fp16_model) instead
    assert (
        check_profile_supported(trt_profile(precision=Precision.FP16), parse_trt_version("11.0.0.114")).family == "11"
    )


def test_int8_on_trt11_builds_the_qdq_model_and_refuses_the_removed_calibrator() -> None:
    implicit = trt_profile(precision=Precision.INT8, int8=Int8Spec(data="calib", quantization="calibrator"))
    with pytest.raises(HostEnvironmentError) as err:
        check_profile_supported(implicit, parse_trt_version("11.1.0.106"))
    assert "INT8 calibrator" in err.value.message and "int8.quantization: qdq" in (err.value.hint or "")
    explicit = trt_profile(precision=Precision.INT8, int8=Int8Spec(data="calib"))  # quantization: qdq (default)
    assert check_profile_supported(explicit, parse_trt_version("11.1.0.106")).family == "11"


def test_what_each_version_accepts() -> None:
    fp32, fp16 = trt_profile(precision=Precision.FP32), trt_profile(precision=Precision.FP16)
    int8 = trt_profile(precision=Precision.INT8, int8=Int8Spec(data="calib"))
    for text in ("8.6.1.6", "10.0.1.6", "10.13.0.35"):
        for profile in (fp32, fp16, int8):
            assert check_profile_supported(profile, parse_trt_version(text)).family in ("8.6", "10")
    for profile in (fp32, fp16, int8):  # FP16 from an FP16 ONNX, INT8 from the Q/DQ model
        assert check_profile_supported(profile, parse_trt_version("11.0.0.114")).family == "11"


def test_profile_opset_above_the_parser_is_refused_before_export() -> None:
    profile = trt_profile(opset=18)
    with pytest.raises(HostEnvironmentError) as err:
        check_profile_supported(profile, parse_trt_version("8.6.1.6"))
    assert "opset 18" in err.value.message and "up to 17" in err.value.message
    assert "opset: 17" in (err.value.hint or "")
    assert check_profile_supported(profile, parse_trt_version("10.0.1.6")).max_onnx_opset == 20

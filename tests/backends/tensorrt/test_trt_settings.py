"""Profile -> TrtBuildSettings (pure), and the ONNX facts the build checks first (real exports)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from builder.backends.tensorrt.onnx_facts import check_onnx_opset, onnx_facts, single_input
from builder.backends.tensorrt.settings import build_settings_from_profile, check_onnx_input, shapes_from_profile
from builder.backends.tensorrt.versions import parse_trt_version
from builder.errors import EngineBuildError, HostEnvironmentError, ProfileError
from builder.profile import Backend, BatchSpec, HardwareCompatibility, Int8Spec, Precision
from tests.backends.tensorrt.trt_fakes import H100
from tests.support import make_profile

V86, V10, V11 = (parse_trt_version(t) for t in ("8.6.1.6", "10.8.0.43", "11.0.0.114"))


def trt_profile(**kw: object):
    return make_profile(backend=Backend.TENSORRT, name="yolo-trt", **kw)


def test_fp16_static_on_86_and_10() -> None:
    profile = trt_profile(precision=Precision.FP16, workspace=2 << 30, imgsz=(64, 96))
    s86 = build_settings_from_profile(profile, V86, H100)
    s10 = build_settings_from_profile(profile, V10, H100)
    assert s86.network_flags == ("EXPLICIT_BATCH",) and s10.network_flags == ()
    for s in (s86, s10):
        assert s.builder_flags == ("FP16",) and s.cleared_flags == ("TF32",) and s.parser_flags == ()
        assert s.workspace_bytes == 2 << 30 and s.calibration is None
        assert (s.input_shapes.min, s.input_shapes.opt, s.input_shapes.max) == ((1, 3, 64, 96),) * 3
        assert s.hardware_compatibility_level == "NONE" and s.profiling_verbosity == "DETAILED"
        assert s.builder_optimization_level == 3 and s.build_gpu == H100.to_dict()
    assert s86.trt_version == "8.6.1.6" and s10.trt_version == "10.8.0.43"


def test_int8_dynamic_calibrates_at_the_opt_batch_with_calibration_profile_only_on_86() -> None:
    profile = trt_profile(
        precision=Precision.INT8,
        int8=Int8Spec(data="calib", samples=64, quantization="calibrator"),
        batch=BatchSpec(1, 4, 8),
    )
    s86 = build_settings_from_profile(profile, V86, H100)
    with pytest.raises(HostEnvironmentError, match="calibrates INT8 with a dynamic batch"):
        build_settings_from_profile(profile, V10, H100)  # issue 17 §2 item 6: refused on 10.x (docs/tensorrt.md)
    s10 = build_settings_from_profile(replace(profile, batch=BatchSpec(4, 4, 4)), V10, H100)
    assert s86.builder_flags == ("INT8", "FP16") == s10.builder_flags
    assert s86.calibration is not None and s10.calibration is not None
    assert (s86.calibration.batch, s86.calibration.samples, s86.calibration.data) == (4, 64, "calib")
    assert s86.calibration.calibrator == "IInt8MinMaxCalibrator" and s86.calibration.cache == "auto"
    assert s86.calibration.use_calibration_profile and not s10.calibration.use_calibration_profile
    assert (
        s86.input_shapes.min == (1, 3, 64, 64)
        and s86.input_shapes.opt == (4, 3, 64, 64)
        and s86.input_shapes.max == (8, 3, 64, 64)
    )


def test_int8_without_an_int8_section_is_a_profile_error() -> None:
    with pytest.raises(ProfileError) as err:
        build_settings_from_profile(trt_profile(precision=Precision.INT8, int8=None), V86, H100)
    assert err.value.errors[0].key == "int8"


def test_tf32_compatibility_and_level() -> None:
    profile = trt_profile(
        tf32=True,
        version_compatible=True,
        hardware_compatibility=HardwareCompatibility.AMPERE_PLUS,
        builder_optimization_level=5,
    )
    s = build_settings_from_profile(profile, V11, H100)
    assert s.builder_flags == ("TF32", "VERSION_COMPATIBLE") and s.cleared_flags == ()
    assert s.parser_flags == ("NATIVE_INSTANCENORM",) and s.hardware_compatibility_level == "AMPERE_PLUS"
    assert s.network_flags == () and s.builder_optimization_level == 5


def test_settings_are_recorded_as_plain_json() -> None:
    profile = trt_profile(
        precision=Precision.INT8, int8=Int8Spec(data="calib", quantization="calibrator"), batch=BatchSpec(1, 2, 4)
    )
    data = build_settings_from_profile(profile, V86, None).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["input_shapes"] == {"min": [1, 3, 64, 64], "opt": [2, 3, 64, 64], "max": [4, 3, 64, 64]}
    assert data["builder_flags"] == ["INT8", "FP16"] and data["network_flags"] == ["EXPLICIT_BATCH"]
    assert data["calibration"]["calibrator"] == "IInt8MinMaxCalibrator" and data["build_gpu"] is None


def test_real_exports_have_what_the_build_reads(static_onnx: Path, dynamic_onnx: Path) -> None:
    static, dynamic = onnx_facts(static_onnx), onnx_facts(dynamic_onnx)
    assert static.opset == 17 and len(static.sha256) == 64
    assert single_input(static) == ("images", (1, 3, 64, 64))
    name, shape = single_input(dynamic)
    assert name == "images" and shape[1] == 3 and not isinstance(shape[0], int)
    assert {"stride", "names", "imgsz", "task"} <= set(static.metadata)


def test_onnx_input_must_fit_the_optimization_profile(static_onnx: Path, dynamic_onnx: Path) -> None:
    dynamic_profile = trt_profile(batch=BatchSpec(1, 2, 4))
    check_onnx_input(*single_input(onnx_facts(dynamic_onnx)), shapes_from_profile(dynamic_profile))
    check_onnx_input(*single_input(onnx_facts(static_onnx)), shapes_from_profile(trt_profile()))
    with pytest.raises(EngineBuildError) as err:
        check_onnx_input(*single_input(onnx_facts(static_onnx)), shapes_from_profile(dynamic_profile))
    assert "fixed batch of 1" in err.value.message and "1..4" in err.value.message
    with pytest.raises(EngineBuildError, match="fixed height of 64"):
        check_onnx_input("images", (1, 3, 64, 64), shapes_from_profile(trt_profile(imgsz=(96, 64))))
    with pytest.raises(EngineBuildError, match="has 3 dimensions"):
        check_onnx_input("images", (1, 3, 64), shapes_from_profile(trt_profile()))


def test_opset_above_the_installed_parser_is_refused_before_building(static_onnx: Path, tmp_path: Path) -> None:
    import onnx

    check_onnx_opset(onnx_facts(static_onnx), V86)
    model = onnx.load(str(static_onnx))
    next(o for o in model.opset_import if o.domain in ("", "ai.onnx")).version = 18
    newer = tmp_path / "opset18.onnx"
    onnx.save(model, str(newer))
    with pytest.raises(EngineBuildError) as err:
        check_onnx_opset(onnx_facts(newer), V86)
    assert "uses opset 18" in err.value.message and "TensorRT 8.6.1.6 supports opsets up to 17" in err.value.message
    assert "opset: 17" in (err.value.hint or "")
    check_onnx_opset(onnx_facts(newer), V10)


def test_unreadable_onnx_is_a_build_error(tmp_path: Path) -> None:
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(EngineBuildError, match="cannot read ONNX model"):
        onnx_facts(broken)

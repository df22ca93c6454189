"""The ``tensorrt`` key: "8.6" (the default, the trt image) or "10" (the trt10 image), and what only 10 builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.profile import load_profile
from tests.profile.helpers import PROFILES, write_profile

TRT_BODY = """
backend: tensorrt
model:
  yaml: yolo11n.yaml
precision: fp16
"""


def test_shipped_profiles_default_to_86_and_b200_asks_for_10() -> None:
    assert load_profile("h100-fp16", PROFILES).tensorrt == "8.6"
    b200 = load_profile("b200-fp16", PROFILES)
    assert (b200.tensorrt, b200.target.compute_capability if b200.target else None) == ("10", "10.0")


def test_tensorrt_10_accepts_what_86_cannot_build(tmp_path: Path) -> None:
    body = TRT_BODY + 'tensorrt: "10"\nopset: 20\ntarget:\n  gpu: RTX PRO 6000\n  compute_capability: "12.0"\n'
    profile = load_profile(write_profile(tmp_path, "blackwell-opset20", body), tmp_path)
    assert (profile.tensorrt, profile.opset) == ("10", 20)


def test_hopper_and_opset_17_still_build_with_86(tmp_path: Path) -> None:
    body = TRT_BODY + 'tensorrt: "8.6"\nopset: 17\ntarget:\n  gpu: H100\n  compute_capability: "9.0"\n'
    assert load_profile(write_profile(tmp_path, "hopper-86", body), tmp_path).tensorrt == "8.6"


INT8_BODY = """
backend: tensorrt
model:
  yaml: yolo11n.yaml
precision: int8
int8:
  data: calibration/coco-sample
"""


def test_int8_with_a_dynamic_batch_is_refused_on_tensorrt_10_only(tmp_path: Path) -> None:
    """Issue 17 §2 item 6 (docs/tensorrt.md): TensorRT 10.8 NvInfer.h asks for a calibration profile, ultralytics
    8.4.190 skips it on 10.x; until a GPU settles it, the implicit calibrator with a dynamic batch is refused at
    validation. Explicit Q/DQ (the default, issue 19) calibrates on the CPU: no TensorRT calibration profile."""
    import pytest

    from builder.errors import ProfileError

    dynamic = "batch:\n  min: 1\n  opt: 2\n  max: 4\n"
    calibrator = INT8_BODY + "  quantization: calibrator\n"
    with pytest.raises(ProfileError) as err:
        load_profile(write_profile(tmp_path, "int8-dyn-10", calibrator + 'tensorrt: "10"\n' + dynamic), tmp_path)
    assert 'INT8 calibration with a dynamic batch is refused on `tensorrt: "10"`' in str(err.value)
    assert "a static batch (`batch: N`)" in str(err.value) and "quantization: qdq" in str(err.value)
    explicit = load_profile(write_profile(tmp_path, "int8-qdq-10", INT8_BODY + 'tensorrt: "10"\n' + dynamic), tmp_path)
    assert explicit.dynamic and explicit.int8 is not None and explicit.int8.quantization == "qdq"
    static = load_profile(write_profile(tmp_path, "int8-static-10", INT8_BODY + 'tensorrt: "10"\nbatch: 2\n'), tmp_path)
    assert static.tensorrt == "10" and not static.dynamic
    on_86 = load_profile(write_profile(tmp_path, "int8-dyn-86", INT8_BODY + 'tensorrt: "8.6"\n' + dynamic), tmp_path)
    assert on_86.dynamic


def test_int8_search_on_tensorrt_needs_the_qdq_model_not_the_calibrator(tmp_path: Path) -> None:
    """Issue 19: the searched plan is Q/DQ placement in the ONNX; the calibrator build never reads it."""
    import pytest

    from builder.errors import ProfileError

    search = "  search: {max_map_drop: 0.01}\naccuracy:\n  data: fixtures/shapes/data.yaml\n"
    with pytest.raises(ProfileError) as err:
        load_profile(write_profile(tmp_path, "search-calib", INT8_BODY + "  quantization: calibrator\n" + search),
                     tmp_path)  # fmt: skip
    assert "precision search places Q/DQ nodes" in str(err.value)
    searched = load_profile(write_profile(tmp_path, "search-qdq", INT8_BODY + search), tmp_path)
    assert searched.int8 is not None and searched.int8.search is not None and searched.int8.quantization == "qdq"


FP8_OK = INT8_BODY + '  type: fp8\ntensorrt: "10"\ntarget:\n  gpu: H100\n  compute_capability: "9.0"\n'


@pytest.mark.parametrize(
    "name, body, message",
    [
        ("fp8-on-86", FP8_OK.replace('tensorrt: "10"', 'tensorrt: "8.6"'), "fp8 needs TensorRT 10 or newer"),
        ("fp8-default-86", FP8_OK.replace('tensorrt: "10"\n', ""), "fp8 needs TensorRT 10 or newer"),
        ("fp8-on-a10", FP8_OK.replace('"9.0"', '"8.6"'), "8.6 has no FP8 tensor cores"),
        ("fp8-on-a100", FP8_OK.replace('"9.0"', '"8.0"'), "8.0 has no FP8 tensor cores"),
        ("fp8-no-target", FP8_OK.split("target:")[0], "give `target.compute_capability`"),
        (
            "fp8-calibrator",
            FP8_OK.replace("  type: fp8\n", "  type: fp8\n  quantization: calibrator\n"),
            "fp8 is explicit Q/DQ only",
        ),
        (
            "fp8-search",
            FP8_OK.replace("  type: fp8\n", "  type: fp8\n  search: {max_map_drop: 0.01}\n")
            + "accuracy:\n  data: fixtures/shapes/data.yaml\n",
            "scores INT8 candidates",
        ),
    ],
)
def test_fp8_is_refused_where_it_cannot_build(tmp_path: Path, name: str, body: str, message: str) -> None:
    """Issue 19: FP8 Q/DQ needs opset 19 (TensorRT 10+) and a GPU of compute capability 8.9 or newer."""
    from builder.errors import ProfileError

    with pytest.raises(ProfileError) as err:
        load_profile(write_profile(tmp_path, name, body), tmp_path)
    assert message in str(err.value)


@pytest.mark.parametrize("capability", ["8.9", "9.0", "10.0"])  # L4/L40S, H100/H200, B200
def test_fp8_validates_on_ada_hopper_and_blackwell(tmp_path: Path, capability: str) -> None:
    profile = load_profile(write_profile(tmp_path, "fp8", FP8_OK.replace('"9.0"', f'"{capability}"')), tmp_path)
    assert profile.int8 is not None and profile.int8.type == "fp8"
    assert load_profile("h100-fp8", PROFILES).int8.type == "fp8"  # type: ignore[union-attr]

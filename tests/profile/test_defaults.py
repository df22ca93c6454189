"""The complete step: defaults by precision, static defaults from the field table, user values win."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.profile import BatchSpec, DetectionCheck, HardwareCompatibility, Tolerance, load_profile
from builder.profile.fields import PRECISION_DEFAULTS
from tests.profile.helpers import CPU_BODY, write_profile

TRT = """
backend: tensorrt
model: {yaml: yolo11n.yaml}
precision: PRECISION
"""


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_verify_defaults_depend_on_precision(precision: str, tmp_path: Path) -> None:
    body = TRT.replace("PRECISION", precision) + ("int8: {data: calib}\n" if precision == "int8" else "")
    write_profile(tmp_path, "p", body)
    profile = load_profile("p", tmp_path)
    expected = PRECISION_DEFAULTS[precision]
    assert profile.verify.tolerances == {"default": Tolerance(**expected["tolerance"])}
    assert profile.verify.detection == DetectionCheck(**expected["detection"])


def test_documented_precision_defaults() -> None:
    assert PRECISION_DEFAULTS["fp32"]["tolerance"] == {"atol": 1e-2, "rtol": 1e-3}
    assert PRECISION_DEFAULTS["fp16"]["tolerance"] == {"atol": 0.5, "rtol": 2e-2}
    assert PRECISION_DEFAULTS["int8"]["tolerance"] == {"atol": 5.0, "rtol": 0.1}
    assert PRECISION_DEFAULTS["fp32"]["detection"] == {
        "top_k": 100,
        "iou": 0.99,
        "score_atol": 1e-3,
        "min_agreement": 1.0,
    }
    assert PRECISION_DEFAULTS["fp16"]["detection"] == {
        "top_k": 100,
        "iou": 0.9,
        "score_atol": 0.02,
        "min_agreement": 0.95,
    }
    assert PRECISION_DEFAULTS["int8"]["detection"] == {
        "top_k": 100,
        "iou": 0.7,
        "score_atol": 0.1,
        "min_agreement": 0.8,
    }


def test_user_values_win_over_precision_defaults(tmp_path: Path) -> None:
    write_profile(
        tmp_path,
        "p",
        TRT.replace("PRECISION", "fp16")
        + """
verify:
  tolerances:
    default: {atol: 0.75}
    output0: {rtol: 0.5}
    "/model.22/Concat_5": {atol: 1, rtol: 0}
  detection: {iou: 0.5, top_k: 10}
""",
    )
    profile = load_profile("p", tmp_path)
    assert profile.verify.tolerances["default"] == Tolerance(atol=0.75, rtol=0.02)
    assert profile.verify.tolerances["output0"] == Tolerance(atol=0.75, rtol=0.5)
    assert profile.verify.tolerances["/model.22/Concat_5"] == Tolerance(atol=1.0, rtol=0.0)
    assert profile.verify.tolerance_for("output1") == profile.verify.tolerances["default"]
    assert profile.verify.detection == DetectionCheck(top_k=10, iou=0.5, score_atol=0.02, min_agreement=0.95)


def test_static_defaults(tmp_path: Path) -> None:
    write_profile(tmp_path, "p", CPU_BODY)
    profile = load_profile("p", tmp_path)
    assert profile.description == ""
    assert profile.task == "detect"
    assert profile.imgsz == (640, 640)
    assert profile.batch == BatchSpec(1, 1, 1)
    assert profile.workspace is None and profile.timing_cache is None and profile.target is None
    assert profile.builder_optimization_level == 3
    assert profile.hardware_compatibility is HardwareCompatibility.NONE
    assert (profile.version_compatible, profile.tf32, profile.simplify) == (False, False, True)
    assert profile.opset == 17
    assert (profile.verify.seed, profile.verify.random_inputs) == (0, 2)
    assert profile.verify.images == ("bus.jpg", "zidane.jpg")
    assert (profile.benchmark.warmup, profile.benchmark.iterations) == (10, 50)
    assert profile.outputs.ultralytics_engine is False


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("on", "default"),
        ("off", None),
        ("true", "default"),
        ("false", None),
        ("'on'", "default"),
        ("'off'", None),
        ("nightly-a10", "nightly-a10"),
        ("default", "default"),
    ],
)
def test_timing_cache_values(written: str, expected: str | None, tmp_path: Path) -> None:
    write_profile(tmp_path, "p", TRT.replace("PRECISION", "fp16") + f"timing_cache: {written}\n")
    assert load_profile("p", tmp_path).timing_cache == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("4GiB", 4 * 2**30),
        ("512MiB", 512 * 2**20),
        ("1.5GB", 1_500_000_000),
        ("1073741824B", 2**30),
        ("1073741824", 2**30),
        ("2 GiB", 2 * 2**30),
        ("null", None),
    ],
)
def test_workspace_values(written: str, expected: int | None, tmp_path: Path) -> None:
    write_profile(tmp_path, "p", TRT.replace("PRECISION", "fp16") + f"workspace: {written}\n")
    assert load_profile("p", tmp_path).workspace == expected


def test_int8_block_defaults_and_cache_off(tmp_path: Path) -> None:
    write_profile(tmp_path, "p", TRT.replace("PRECISION", "int8") + "int8: {data: calib/images, cache: off}\n")
    int8 = load_profile("p", tmp_path).int8
    assert int8 is not None and (int8.data, int8.samples, int8.cache) == ("calib/images", 500, "off")


def test_checkpoint_model_and_rectangular_input(tmp_path: Path) -> None:
    digest = "ab" * 32
    write_profile(
        tmp_path,
        "p",
        f"""
        backend: tensorrt
        model: {{checkpoint: weights/best.pt, sha256: {digest}}}
        precision: fp16
        imgsz: [384, 640]
        hardware_compatibility: ampere_plus
        version_compatible: yes
        target: {{compute_capability: "8.0"}}
    """,
    )
    profile = load_profile("p", tmp_path)
    assert (profile.model.checkpoint, profile.model.sha256, profile.model.yaml) == ("weights/best.pt", digest, None)
    assert profile.imgsz == (384, 640)
    assert profile.hardware_compatibility is HardwareCompatibility.AMPERE_PLUS
    assert profile.version_compatible is True

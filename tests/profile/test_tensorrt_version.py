"""The ``tensorrt`` key: "8.6" (the default, the trt image) or "10" (the trt10 image), and what only 10 builds."""

from __future__ import annotations

from pathlib import Path

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

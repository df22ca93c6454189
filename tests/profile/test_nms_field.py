"""outputs.nms: its default keeps today's raw head; end2end only where the model has an NMS-free head."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import ProfileError
from builder.profile import load_profile
from tests.profile.helpers import CPU_BODY, PROFILES, error_text, write_profile


def test_default_is_external(tmp_path: Path) -> None:
    write_profile(tmp_path, "p", CPU_BODY)
    assert load_profile("p", tmp_path).outputs.nms == "external"


@pytest.mark.parametrize(
    "body, expected",
    [
        (CPU_BODY + "outputs:\n  nms: end2end\n", "'end2end' needs a model with an NMS-free (one-to-one) head"),
        (CPU_BODY + "outputs:\n  nms: nms\n", "must be one of external | embedded | end2end"),
        (
            CPU_BODY.replace("fp32", "int8") + "int8:\n  data: calib\noutputs:\n  nms: embedded\n",
            "'embedded' is not built at precision int8 on onnxruntime",
        ),
    ],
)
def test_refused_with_a_clear_error(tmp_path: Path, body: str, expected: str) -> None:
    write_profile(tmp_path, "p", body)
    with pytest.raises(ProfileError) as info:
        load_profile("p", tmp_path)
    assert expected in error_text(info.value)
    assert "outputs.nms" in error_text(info.value)


def test_end2end_accepted_for_yolo26(tmp_path: Path) -> None:
    write_profile(tmp_path, "p", CPU_BODY.replace("yolo11n", "yolo26n") + "outputs:\n  nms: end2end\n")
    assert load_profile("p", tmp_path).outputs.nms == "end2end"


def test_shipped_final_detection_profiles() -> None:
    modes = {name: load_profile(name, PROFILES).outputs.nms for name in ("cpu-fp32-shapes-nms", "cpu-fp32-yolo26-e2e")}
    assert modes == {"cpu-fp32-shapes-nms": "embedded", "cpu-fp32-yolo26-e2e": "end2end"}
    gpu = load_profile("a10-fp16-e2e", PROFILES)
    assert (gpu.outputs.nms, gpu.outputs.ultralytics_engine, gpu.model.checkpoint) == (
        "end2end",
        True,
        "fixtures/shapes-yolo26n.pt",
    )

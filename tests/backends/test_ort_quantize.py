"""ONNX Runtime INT8 (builder/backends/ort_quantize.py): the head it keeps in float, and refusals before any work.

The quantized builds themselves (head in float passes the mAP gate, head quantized fails it) are in
tests/accuracy/test_map_gate.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.backends.ort_quantize import head_prefix, quantize
from builder.profile import Int8Spec, Precision
from builder.yolo.preprocess import ImageError
from tests.support import make_profile


def test_the_head_is_the_highest_model_index_wherever_the_name_has_it() -> None:
    names = ["/model.0/conv/Conv", "/model.22/m/Add", "/model.23/cv3.0/Conv", "/model.23/dfl/conv/Conv", "Concat_9"]
    assert head_prefix(names) == "/model.23/"
    assert head_prefix(["/model/model.10/cv2/Conv", "/model/model.9/Sigmoid"]) == "/model.10/"  # nms=True exports
    assert head_prefix(["Conv_0", "Sigmoid_1"]) == ""  # no ultralytics names: nothing is kept in float


def test_a_missing_calibration_folder_is_refused_with_the_fix(tmp_path: Path) -> None:
    profile = make_profile(precision=Precision.INT8, int8=Int8Spec(data="calib", samples=4))
    with pytest.raises(ImageError, match="does not exist") as caught:
        quantize(
            tmp_path / "model.onnx", tmp_path / "out.onnx", profile, tmp_path, "images", scratch=tmp_path, log=print
        )
    assert caught.value.hint and not (tmp_path / "out.onnx").exists()


def test_too_few_calibration_images_names_both_counts(tmp_path: Path) -> None:
    (tmp_path / "calib").mkdir()
    (tmp_path / "calib" / "a.png").write_bytes(b"not read before the count is checked")
    profile = make_profile(precision=Precision.INT8, int8=Int8Spec(data="calib", samples=4))
    with pytest.raises(ImageError, match=r"holds 1 image\(s\), but `int8.samples` asks for 4"):
        quantize(
            tmp_path / "model.onnx", tmp_path / "out.onnx", profile, tmp_path, "images", scratch=tmp_path, log=print
        )

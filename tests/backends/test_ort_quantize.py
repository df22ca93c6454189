"""ONNX Runtime INT8 (builder/backends/ort_quantize.py): the head it keeps in float, and refusals before any work.

The quantized builds themselves (head in float passes the mAP gate, head quantized fails it) are in
tests/accuracy/test_map_gate.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.backends.ort_quantize import float_nodes, head_prefix, quantize
from builder.profile import Int8Spec, Precision
from builder.yolo.preprocess import ImageError
from tests.support import make_profile


def test_the_head_is_the_highest_model_index_wherever_the_name_has_it() -> None:
    names = ["/model.0/conv/Conv", "/model.22/m/Add", "/model.23/cv3.0/Conv", "/model.23/dfl/conv/Conv", "Concat_9"]
    assert head_prefix(names) == "/model.23/"
    assert head_prefix(["/model/model.10/cv2/Conv", "/model/model.9/Sigmoid"]) == "/model.10/"  # nms=True exports
    assert head_prefix(["Conv_0", "Sigmoid_1"]) == ""  # no ultralytics names: nothing is kept in float


@pytest.fixture(scope="module")
def yolo11n_node_names(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The node names of a real ultralytics export of YOLO11n (yolo11n.yaml, imgsz 64)."""
    import onnx
    from ultralytics import YOLO

    folder = tmp_path_factory.mktemp("yolo11n")
    here = os.getcwd()
    os.chdir(folder)  # a model made from a YAML exports next to it: into the working directory
    try:
        path = YOLO("yolo11n.yaml").export(format="onnx", imgsz=64, opset=17, simplify=False, verbose=False)
    finally:
        os.chdir(here)
    return [node.name for node in onnx.load(str(folder / path)).graph.node]


def test_decode_keeps_the_heads_decode_in_float_and_quantizes_its_convolution_branches(
    yolo11n_node_names: list[str],
) -> None:
    head, kept = float_nodes(yolo11n_node_names, "decode")
    in_head = [n for n in yolo11n_node_names if n.startswith("/model.23/")]
    assert head == "/model.23/" and kept and set(kept) < set(in_head)
    assert not [n for n in kept if n.startswith(("/model.23/cv2.", "/model.23/cv3."))]  # branches: INT8
    assert {n for n in in_head if "/dfl/" in n} <= set(kept)  # DFL, and the Sigmoid and box arithmetic below
    assert {"/model.23/Sigmoid", "/model.23/Concat"} <= set(kept)
    assert not [n for n in kept if not n.startswith("/model.23/")]  # backbone and neck: INT8 (their SiLUs too)


def test_float_keeps_the_whole_head_and_int8_none(yolo11n_node_names: list[str]) -> None:
    in_head = [n for n in yolo11n_node_names if n.startswith("/model.23/")]
    assert float_nodes(yolo11n_node_names, "float") == ("/model.23/", in_head)
    assert float_nodes(yolo11n_node_names, "int8") == ("/model.23/", [])
    assert float_nodes(["Conv_0", "Sigmoid_1"], "decode") == ("", [])  # no ultralytics names: nothing in float


def test_decode_finds_the_branches_of_nms_and_end_to_end_exports() -> None:
    names = [
        "/model/model.23/cv2.0/cv2.0.0/conv/Conv",
        "/model/model.23/one2one_cv3.1/x/Conv",
        "/model/model.23/Sigmoid",
    ]
    assert float_nodes(names, "decode") == ("/model.23/", ["/model/model.23/Sigmoid"])


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

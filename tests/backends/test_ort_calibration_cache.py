"""ONNX Runtime INT8's keyed calibration cache (builder/backends/ort_calibration.py,
builder/backends/calibration_cache.py),
with the real onnxruntime quantizer on a tiny convolutional model: calibrated once, then reused (and the reused
ranges are the ones the model gets), refused when made from other inputs, never kept with ``int8.cache: off``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from builder.backends.ort_calibration import cache_paths
from builder.backends.ort_quantize import quantize
from builder.errors import EngineBuildError
from builder.profile import BatchSpec, Int8Spec, Precision
from tests.support import make_profile

SIZE = 32


def tiny_model(path: Path, seed: int = 0) -> Path:
    """images (1,3,32,32) -> Conv -> Sigmoid -> Conv -> output0, named like an ultralytics export's first modules."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    w1, w2 = (rng.normal(0, 0.3, shape).astype(np.float32) for shape in ((8, 3, 3, 3), (4, 8, 1, 1)))
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["images", "w1"], ["c1"], name="/model.0/conv/Conv", pads=[1, 1, 1, 1]),
            helper.make_node("Sigmoid", ["c1"], ["s1"], name="/model.0/act/Sigmoid"),
            helper.make_node("Conv", ["s1", "w2"], ["output0"], name="/model.1/conv/Conv"),
        ],
        "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4, SIZE, SIZE])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def write_image(path: Path, seed: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (24, 40, 3), dtype=np.uint8))


@pytest.fixture()
def setup(tmp_path: Path) -> dict[str, Path]:
    models = tmp_path / "models"
    for i in range(4):
        write_image(models / "calib" / f"{i}.png", i)
    return {"models": models, "onnx": tiny_model(tmp_path / "model.onnx"), "cache": tmp_path / "cache", "tmp": tmp_path}


def profile(cache: str = "auto") -> Any:
    return make_profile(
        name="tiny-int8",
        precision=Precision.INT8,
        imgsz=(SIZE, SIZE),
        batch=BatchSpec(1, 1, 1),
        int8=Int8Spec("calib", samples=4, cache=cache, head="int8"),
    )


def run(setup: dict[str, Path], name: str, cache: str = "auto", cache_dir: Path | None = None) -> dict[str, Any]:
    """Quantize into ``tmp/<name>/`` with a fresh scratch folder; return the manifest details and the lines logged."""
    folder = setup["tmp"] / name
    (folder / "scratch").mkdir(parents=True)
    lines: list[str] = []
    details = quantize(
        setup["onnx"], folder / "out.onnx", profile(cache), setup["models"], "images",
        scratch=folder / "scratch", cache_dir=cache_dir if cache_dir is not None else setup["cache"],
        log=lines.append,
    )  # fmt: skip
    return {**details, "lines": lines, "out": folder / "out.onnx"}


def scales(model: Path) -> dict[str, float]:
    """Scalar (per-tensor) QuantizeLinear scales of the activations, by tensor quantized."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(model)).graph
    consts = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    return {
        node.input[0]: float(consts[node.input[1]])
        for node in graph.node
        if node.op_type == "QuantizeLinear" and consts[node.input[1]].size == 1
    }


def test_calibrates_once_keeps_the_ranges_then_reuses_them(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    unwritable = str(setup["tmp"] / "no-such-folder")  # as the container's read-only root: only scratch is writable
    monkeypatch.setattr(tempfile, "tempdir", unwritable)
    first = run(setup, "first")
    cache, sidecar = cache_paths(setup["cache"], "tiny-int8", first["calibration_cache"]["key"]["onnxruntime"])
    assert first["calibration_cache"]["status"] == "calibrated" and first["calibration_cache"]["hit"] is False
    assert first["calibration_cache"]["cache"] == str(cache) and cache.is_file()
    assert json.loads(sidecar.read_text()) == first["calibration_cache"]["key"]
    key = first["calibration_cache"]["key"]
    assert (key["data_sha256"], key["files"]) == (
        first["calibration_data"]["sha256"],
        ["0.png", "1.png", "2.png", "3.png"],
    )
    assert (key["method"], key["samples"], key["imgsz"], key["batch"]) == ("MinMax", 4, [SIZE, SIZE], 1)
    second = run(setup, "second")
    assert second["calibration_cache"]["status"] == "reused cache" and second["calibration_cache"]["hit"] is True
    assert any(f"ranges from {cache}" in line for line in second["lines"])
    assert second["out"].read_bytes() == first["out"].read_bytes()
    assert not list((setup["tmp"] / "second" / "scratch").glob("ort.quant.*"))  # ONNX Runtime's temp dir: removed
    assert tempfile.tempdir == unwritable  # restored after quantizing
    assert not [r for r in caplog.records if "pre-processing" in r.getMessage()]  # no advice in the build's output


def test_the_reused_ranges_are_the_ones_the_model_gets(setup: dict[str, Path]) -> None:
    first = run(setup, "first")
    cache, _ = cache_paths(setup["cache"], "tiny-int8", first["calibration_cache"]["key"]["onnxruntime"])
    ranges = json.loads(cache.read_text())
    text = json.dumps(ranges)
    assert "s1" in text  # the Sigmoid's output has a range: (0, ~1)
    widened = _scale_range(ranges, "s1", 4.0)
    cache.write_text(json.dumps(widened))  # the sidecar still matches: this cache is taken as it is
    second = run(setup, "second")
    assert second["calibration_cache"]["hit"] is True
    assert scales(second["out"])["s1"] == pytest.approx(4.0 * scales(first["out"])["s1"], rel=1e-4)


def _scale_range(node: Any, tensor: str, factor: float) -> Any:
    """``node`` with the range numbers of ``tensor`` multiplied by ``factor`` (wherever the JSON keeps them)."""
    if isinstance(node, dict):
        return {k: (_times(v, factor) if k == tensor else _scale_range(v, tensor, factor)) for k, v in node.items()}
    if isinstance(node, list):
        return [_scale_range(v, tensor, factor) for v in node]
    return node


def _times(node: Any, factor: float) -> Any:
    if isinstance(node, dict):
        return {k: _times(v, factor) for k, v in node.items()}
    if isinstance(node, list):
        return [_times(v, factor) for v in node]
    return node * factor if isinstance(node, float) else node


def test_a_cache_from_other_images_or_another_model_is_refused_by_name(setup: dict[str, Path]) -> None:
    first = run(setup, "first")
    cache, _ = cache_paths(setup["cache"], "tiny-int8", first["calibration_cache"]["key"]["onnxruntime"])
    kept = cache.read_bytes()
    write_image(setup["models"] / "calib" / "2.png", 42)
    with pytest.raises(EngineBuildError, match=r"made for other inputs.*data_sha256 \(changed\)") as caught:
        run(setup, "edited")
    assert f"delete {cache}" in (caught.value.hint or "") and cache.read_bytes() == kept
    write_image(setup["models"] / "calib" / "2.png", 2)  # the set as it was: the cache is valid again
    assert run(setup, "restored")["calibration_cache"]["hit"] is True
    tiny_model(setup["onnx"], seed=1)
    with pytest.raises(EngineBuildError, match=r"onnx_sha256 \(changed\)"):
        run(setup, "other-model")


def test_a_cache_without_its_key_file_is_refused(setup: dict[str, Path]) -> None:
    first = run(setup, "first")
    _, sidecar = cache_paths(setup["cache"], "tiny-int8", first["calibration_cache"]["key"]["onnxruntime"])
    sidecar.unlink()
    with pytest.raises(EngineBuildError, match="has no key file"):
        run(setup, "second")


def test_cache_off_or_no_cache_folder_calibrates_and_keeps_nothing(setup: dict[str, Path]) -> None:
    off = run(setup, "off", cache="off")
    assert off["calibration_cache"] == {**off["calibration_cache"], "status": "cache off", "hit": False, "cache": ""}
    assert not setup["cache"].exists()
    assert any("4 calibration image(s)" in line for line in off["lines"])

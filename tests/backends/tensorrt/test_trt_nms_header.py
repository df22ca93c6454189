"""outputs.nms embedded / end2end on the TensorRT path (recording fake): the ultralytics engine header carries
what AutoBackend needs to read final detections.

Checked against ultralytics 8.4.190: ``ultralytics/nn/backends/base.py`` ``apply_metadata`` parses the header's
string values and sets ``end2end = metadata["end2end"] or metadata["args"]["nms"]`` (which makes the predictor
only filter the (1, 300, 6) output by confidence), and ``ultralytics/nn/backends/tensorrt.py`` skips CUDA-graph
capture when ``args.nms`` is set (TensorRT's NMS layer does host work). The ONNX itself: onnx-tensorrt
docs/operators.md lists NonMaxSuppression (FP32, FP16) at release/8.6-GA and release/10.1-GA.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

import builder.backends.tensorrt as backend
from builder.profile import Backend, ModelSpec, OutputsSpec, Precision
from tests.backends.tensorrt.conftest import _export
from tests.backends.tensorrt.test_trt_backend import build_ctx
from tests.backends.tensorrt.trt_fakes import install, make_fake_trt
from tests.support import make_profile

MODES = {"embedded": ModelSpec(yaml="yolo11n.yaml", seed=0), "end2end": ModelSpec(yaml="yolo26n.yaml", seed=0)}
_EXPORTS: dict[str, Path] = {}


def _exported(tmp_path_factory: pytest.TempPathFactory, mode: str, outputs: OutputsSpec) -> Path:
    if mode not in _EXPORTS:  # one real export per mode for both TensorRT versions
        _EXPORTS[mode] = _export(tmp_path_factory.mktemp(f"onnx-{mode}"), model=MODES[mode], outputs=outputs)
    return _EXPORTS[mode]


@pytest.mark.parametrize("version", ["8.6.1.6", "10.3.0"])
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.slow  # a real export per mode (module cache, not a fixture the tier rule sees)
def test_engine_header_tells_autobackend_the_output_is_final(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, mode: str, version: str
) -> None:
    from ultralytics.nn.backends.base import BaseBackend

    outputs = OutputsSpec(ultralytics_engine=True, nms=mode)
    onnx_path = _exported(tmp_path_factory, mode, outputs)
    profile = make_profile(
        backend=Backend.TENSORRT, name="yolo-e2e", model=MODES[mode], outputs=outputs, precision=Precision.FP16
    )
    install(monkeypatch, make_fake_trt(version))
    ctx = build_ctx(tmp_path_factory.mktemp(f"build-{mode}"), onnx_path, profile)
    backend.build(ctx, ctx.workdir / "model.onnx")
    _, header = BaseBackend.engine_header(Path(ctx.workdir / "model.engine"))
    loaded = SimpleNamespace(dynamic=False)
    BaseBackend.apply_metadata(loaded, dict(header))  # type: ignore[arg-type]  # ultralytics' own parsing
    assert loaded.end2end is True and loaded.task == "detect"
    assert loaded.args.get("nms") is (True if mode == "embedded" else False)

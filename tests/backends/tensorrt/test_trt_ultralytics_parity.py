"""What ultralytics 8.4.190 does that our TensorRT build must match (sources: the installed ultralytics 8.4.190,
``ultralytics/utils/export/engine.py::onnx2engine`` and ``ultralytics/nn/backends/tensorrt.py``):

* a dynamic export gets an optimization profile with H/W from 32 to 2x imgsz, because the loader predicts a
  dynamic engine with rect letterboxing and refuses a shape outside the profile (issue 10, item 1);
* INT8 keeps the head's Sigmoid layers in FP32 and its ``.2/Conv`` / DFL convolutions in FP16 with
  ``OBEY_PRECISION_CONSTRAINTS`` (item 5), checked on a real yolo11n ONNX export;
* CUDA numbers devices as the driver does (item 4).
"""

from __future__ import annotations

import ast
from pathlib import Path

import onnx
import pytest

import builder.backends.tensorrt as backend
from builder.backends.tensorrt.layer_precision import head_prefix, select_constraints
from builder.backends.tensorrt.settings import HW_FIXED, HW_ULTRALYTICS, shapes_from_profile
from builder.errors import HostEnvironmentError
from builder.machine.gpu import GpuInfo, pin_cuda_device_order
from builder.profile import BatchSpec, Int8Spec, OutputsSpec, Precision
from tests.backends.tensorrt.test_trt_backend import _calibration_images, build_ctx, trt_profile
from tests.backends.tensorrt.trt_fakes import H100, T4, install, make_fake_trt

# --- item 1: dynamic batch + ultralytics engine ----------------------------------------------------------


def _letterboxed_shape(image: Path, imgsz: int) -> tuple[int, int]:
    """The (H, W) ultralytics' predictor feeds a dynamic engine: LetterBox(auto=True, stride=32) (rect)."""
    import cv2
    from ultralytics.data.augment import LetterBox

    return LetterBox((imgsz, imgsz), auto=True, stride=32)(image=cv2.imread(str(image))).shape[:2]


def test_dynamic_ultralytics_engine_gets_ultralytics_hw_range() -> None:
    from builder.yolo.preprocess import ultralytics_assets

    dynamic = trt_profile(batch=BatchSpec(1, 8, 16), imgsz=(640, 640), outputs=OutputsSpec(ultralytics_engine=True))
    shapes = shapes_from_profile(dynamic)
    assert (shapes.min, shapes.opt, shapes.max) == ((1, 3, 32, 32), (8, 3, 640, 640), (16, 3, 1280, 1280))
    for name in ("bus.jpg", "zidane.jpg"):  # bus.jpg letterboxes to 640x480, zidane.jpg to 384x640
        height, width = _letterboxed_shape(ultralytics_assets() / name, 640)
        assert (height, width) != (640, 640)
        assert shapes.min[2] <= height <= shapes.max[2] and shapes.min[3] <= width <= shapes.max[3]
    plain = trt_profile(batch=BatchSpec(1, 8, 16), imgsz=(640, 640))
    assert shapes_from_profile(plain).max == (16, 3, 640, 640)  # without the ultralytics engine, H/W stay fixed


@pytest.mark.parametrize("dynamic", [False, True])
def test_engine_header_agrees_with_the_optimization_profile(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path, dynamic_onnx: Path, dynamic: bool
) -> None:
    from ultralytics.nn.backends.base import BaseBackend

    trt = make_fake_trt("10.3.0")
    install(monkeypatch, trt)
    batch = BatchSpec(1, 2, 4) if dynamic else BatchSpec()
    profile = trt_profile(batch=batch, outputs=OutputsSpec(ultralytics_engine=True))
    ctx = build_ctx(tmp_path, dynamic_onnx if dynamic else static_onnx, profile)
    result = backend.build(ctx, ctx.workdir / "model.onnx")
    _, meta = BaseBackend.engine_header(ctx.workdir / "model.engine")
    args = (
        meta["args"] if isinstance(meta["args"], dict) else ast.literal_eval(meta["args"])
    )  # as BaseBackend.apply_metadata
    profiles = [c[1] for c in trt.calls if c[0] == "config.add_optimization_profile"]
    assert bool(args.get("dynamic")) is dynamic and bool(profiles) is dynamic
    assert result.details["settings"]["input_hw_range"] == (HW_ULTRALYTICS if dynamic else HW_FIXED)
    if dynamic:
        low, opt, high = profiles[0]["images"]
        assert low == (1, 3, 32, 32) and opt == (2, 3, 64, 64) and high == (4, 3, 128, 128)
        assert args["batch"] <= high[0]


# --- item 5: INT8 layer precision constraints -----------------------------------------------------------

_OP_TO_LAYER = {"Conv": "CONVOLUTION", "Sigmoid": "ACTIVATION"}  # onnx-tensorrt: one layer per node, same name


def _layers(onnx_path: Path) -> list[tuple[str, str]]:
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [(node.name, _OP_TO_LAYER.get(node.op_type, node.op_type.upper())) for node in graph.node]


def test_int8_constraints_on_a_real_yolo11n_graph(static_onnx: Path) -> None:
    layers = _layers(static_onnx)
    assert head_prefix(name for name, _ in layers) == "/model.23/"  # yolo11n: Detect is module 23
    chosen = select_constraints(layers)
    half = {c.name for c in chosen if c.dtype == "HALF"}
    floats = {c.name for c in chosen if c.dtype == "FLOAT"}
    assert half == {f"/model.23/{b}.{i}/{b}.{i}.2/Conv" for b in ("cv2", "cv3") for i in range(3)} | {
        "/model.23/dfl/conv/Conv"
    }
    assert "/model.23/Sigmoid" in floats and all(n.startswith("/model.23/") and n.endswith("Sigmoid") for n in floats)
    backbone = [n for n, kind in layers if kind == "ACTIVATION" and not n.startswith("/model.23/")]
    assert backbone and not floats & set(backbone)  # backbone/neck SiLU sigmoids stay free for INT8
    assert [c.index for c in chosen] == sorted(c.index for c in chosen)


def test_nms_wrapped_names_find_the_same_head() -> None:
    names = [
        ("/model/model.0/conv/Conv", "CONVOLUTION"),
        ("/model/model.23/Sigmoid", "ACTIVATION"),
        ("/model/model.23/dfl/conv/Conv", "CONVOLUTION"),
        ("/model/model.9/m/Sigmoid", "ACTIVATION"),
    ]
    assert [(c.name, c.dtype) for c in select_constraints(names)] == [
        ("/model/model.23/Sigmoid", "FLOAT"),
        ("/model/model.23/dfl/conv/Conv", "HALF"),
    ]


@pytest.mark.parametrize("version", ["8.6.1.6", "10.3.0"])
def test_int8_build_applies_and_records_the_constraints(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path, version: str
) -> None:
    trt = make_fake_trt(version)
    install(monkeypatch, trt)
    ctx = build_ctx(
        tmp_path,
        static_onnx,
        trt_profile(precision=Precision.INT8, int8=Int8Spec(data="calib", samples=2, quantization="calibrator")),
    )
    _calibration_images(ctx)
    details = backend.build(ctx, ctx.workdir / "model.onnx").details
    record = details["layer_precisions"]
    assert record["flag"] == "OBEY_PRECISION_CONSTRAINTS" and record["count"] == len(record["layers"]["FLOAT"]) + 7
    assert ("layer.precision", "/model.23/Sigmoid", "FLOAT") in trt.calls
    assert ("layer.set_output_type", "/model.23/dfl/conv/Conv", 0, "HALF") in trt.calls
    assert details["settings"]["layer_precisions"].startswith("ultralytics onnx2engine")


def test_fp16_build_sets_no_constraints(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path) -> None:
    trt = make_fake_trt("8.6.1.6")
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, trt_profile(precision=Precision.FP16))
    details = backend.build(ctx, ctx.workdir / "model.onnx").details
    assert details["layer_precisions"] == {} and not [c for c in trt.calls if c[0].startswith("layer.")]


# --- item 4: CUDA device order --------------------------------------------------------------------------


def test_device_order_is_pinned_to_the_driver_order() -> None:
    env: dict[str, str] = {}
    assert pin_cuda_device_order(env, (H100, T4)) == "PCI_BUS_ID" and env == {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    same = {"CUDA_DEVICE_ORDER": "FASTEST_FIRST"}
    assert (
        pin_cuda_device_order(same, (H100, GpuInfo(1, H100.name, "GPU-1", "9.0", 81559, "580.159.04")))
        == "FASTEST_FIRST"
    )
    with pytest.raises(HostEnvironmentError) as err:
        pin_cuda_device_order({"CUDA_DEVICE_ORDER": "FASTEST_FIRST"}, (T4, H100))
    assert "PCI_BUS_ID" in (err.value.hint or "")


def test_tensorrt_host_sets_the_order_before_importing_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    import builder.backends.tensorrt.host as host

    trt = make_fake_trt("10.3.0")
    install(monkeypatch, trt)
    seen: list[str | None] = []
    env: dict[str, str] = {}
    real_import = host.trt_calls.import_tensorrt
    monkeypatch.setattr(
        host.trt_calls, "import_tensorrt", lambda: seen.append(env.get("CUDA_DEVICE_ORDER")) or real_import()
    )
    facts = host.tensorrt_host(trt_profile(), env).facts()
    assert seen == ["PCI_BUS_ID"] and facts["cuda_device_order"] == "PCI_BUS_ID"


def test_container_environment_pins_the_order() -> None:
    from builder.host.spec import BASE_ENVIRONMENT

    assert BASE_ENVIRONMENT["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"

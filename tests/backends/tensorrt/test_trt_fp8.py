"""FP8 (E4M3) Q/DQ for TensorRT (issue 19): the INT8 Q/DQ model's calibrated ranges rewritten as FP8, checked here.

Facts (none can run here: no GPU, no TensorRT): ONNX QuantizeLinear/DequantizeLinear take float8e4m3fn from
opset 19 (ONNX operator changelog, QuantizeLinear-19); the TensorRT 8.6 parser reads opsets up to 17 (onnx-tensorrt
release/8.6-GA docs/operators.md), 10.x up to 20+; TensorRT's explicit quantization takes FP8 Q/DQ weights and
activations (NVIDIA "Explicit Quantization" guide, TensorRT 10.x/11.5: "INT8, FP8, INT4, or FP4"), FP8 tensor cores
need compute capability 8.9 or newer (TensorRT-RTX "Working with Quantized Types": "FP8 ... on Ada and later
architectures (compute capability 8.9 or later)"; Transformer Engine support matrix). E4M3's largest finite value
is 448 (ml_dtypes.finfo(float8_e4m3fn).max).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import builder.backends.tensorrt as backend
from builder.backends.tensorrt.settings import build_settings_from_profile
from builder.backends.tensorrt.versions import parse_trt_version
from builder.errors import HostEnvironmentError
from builder.machine.gpu import GpuInfo
from builder.profile import BatchSpec, Int8Spec, Precision
from tests.backends.tensorrt.test_trt_backend import _calibration_images, build_ctx, trt_profile
from tests.backends.tensorrt.trt_fakes import H100, T4, install, make_fake_trt

FP8 = trt_profile(
    precision=Precision.INT8, int8=Int8Spec(data="calib", samples=2, type="fp8"), batch=BatchSpec(1, 1, 1)
)


def _fp8_facts(path: Path) -> dict[str, object]:
    """What the FP8 model must be: Q/DQ with float8e4m3fn zero points (all 0), opset >= 19, finite positive scales,
    every weight within E4M3's range once divided by its scale."""
    import ml_dtypes
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)  # types inferred through every node
    ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # loads where the accuracy is simulated
    inits = {i.name: i for i in model.graph.initializer}
    quant = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    zero_types = {inits[n.input[2]].data_type for n in quant}
    zeros = [numpy_helper.to_array(inits[n.input[2]]).astype(np.float32) for n in quant]
    scales = [numpy_helper.to_array(inits[n.input[1]]) for n in quant]
    weight_ratio = 0.0
    for node, scale in zip(quant, scales, strict=True):
        if node.input[0] in inits:  # a weight behind its own pair: per output channel (axis 0)
            w = numpy_helper.to_array(inits[node.input[0]])
            per = scale.reshape((-1,) + (1,) * (w.ndim - 1)) if scale.ndim else scale
            weight_ratio = max(weight_ratio, float(np.abs(w / per).max()))
    return {
        "opset": max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "pairs": len(quant),
        "zero_types": zero_types,
        "zeros_all_0": all(not z.any() for z in zeros),
        "scales_ok": all(np.isfinite(s).all() and (s > 0).all() for s in scales),
        "weight_ratio": weight_ratio,
        "e4m3_max": float(ml_dtypes.finfo(ml_dtypes.float8_e4m3fn).max),
    }


@pytest.mark.parametrize("version, network_flags", [("10.8.0.43", 1 << 1), ("11.0.0.114", 0)])
def test_fp8_builds_the_e4m3_qdq_model_strongly_typed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path, version: str, network_flags: int
) -> None:
    import onnx

    trt = make_fake_trt(version)
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, FP8)
    _calibration_images(ctx)
    result = backend.build(ctx, ctx.workdir / "model.onnx")
    qdq = ctx.workdir / "model.qdq.onnx"
    assert [c for c in trt.calls if c[0] == "parse_from_file"] == [("parse_from_file", str(qdq))]
    assert [c for c in trt.calls if c[0] == "create_network"] == [("create_network", network_flags)]
    assert not [c for c in trt.calls if c[0] == "config.set_flag" or c[0].startswith("layer.")]
    facts = _fp8_facts(qdq)
    assert facts["opset"] >= 19 and facts["pairs"] and facts["zeros_all_0"] and facts["scales_ok"]
    assert facts["zero_types"] == {onnx.TensorProto.FLOAT8E4M3FN}
    # the largest weight maps to E4M3's 448 (up to the float32 rounding of its scale; QuantizeLinear saturates)
    assert facts["e4m3_max"] * 0.99 <= facts["weight_ratio"] <= facts["e4m3_max"] * (1 + 1e-6)  # type: ignore[operator]
    int8 = result.details["int8"]
    assert int8["type"] == "fp8" and int8["fp8"]["element_type"] == "float8e4m3fn" and int8["fp8"]["opset"] == 19
    # the convolutions TensorRT has no FP8 kernel for keep float weights, read directly (no weight Q/DQ); their input
    # may still pass a Q/DQ pair made for a quantized neighbour reading the same tensor (ONNX Runtime's dedicated
    # pairs), which TensorRT runs as Q/DQ then a float convolution
    from builder.backends.tensorrt.explicit import fp8_unsupported_convs

    convs = fp8_unsupported_convs(ctx.workdir / "model.onnx")
    model = onnx.load(str(qdq))
    dq_out = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    fed = {n.name: n.input[1] in dq_out for n in model.graph.node if n.op_type == "Conv"}  # its weight, through DQ
    assert convs and int8["fp8"]["convs_in_float"] == len(convs) and not [c for c in convs if fed[c]]
    assert any(fed.values())


@pytest.mark.parametrize(
    "version, gpu, refusal",
    [
        ("8.6.1.6", H100, "cannot parse FP8 Q/DQ"),  # the 8.6 parser: opset 17 at most
        ("10.8.0.43", GpuInfo(0, "NVIDIA A10", "GPU-0", "8.6", 22731, "570.1"), "no FP8 tensor cores"),
        ("10.8.0.43", T4, "no FP8 tensor cores"),
    ],
)
def test_fp8_is_refused_without_tensorrt_10_or_fp8_tensor_cores(version: str, gpu: GpuInfo, refusal: str) -> None:
    with pytest.raises(HostEnvironmentError) as err:
        build_settings_from_profile(FP8, parse_trt_version(version), gpu)
    assert refusal in str(err.value) and err.value.hint
    for ok in ("10.8.0.43", "11.0.0.114"):  # Hopper on 10 and 11: built
        assert build_settings_from_profile(FP8, parse_trt_version(ok), H100).int8_quantization == "qdq"


def test_onnx_runtimes_cpu_fp8_qdq_is_the_e4m3_round_trip() -> None:
    """ONNX Runtime's CPU kernels run FP8 Q/DQ exactly as E4M3 rounding (ml_dtypes), saturating at 448: so scoring
    the FP8 model on CPU is a faithful fake-quantized simulation of its arithmetic."""
    import ml_dtypes
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    x = np.random.default_rng(0).normal(0, 3, (4, 257)).astype(np.float32)
    x[0, :3] = (2000.0, -2000.0, 0.0)  # beyond E4M3's range: saturated
    scale = np.float32(0.5)
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
    ]
    constants = [
        helper.make_tensor("s", TensorProto.FLOAT, [], [float(scale)]),
        helper.make_tensor("z", TensorProto.FLOAT8E4M3FN, [], [0.0]),
    ]
    graph = helper.make_graph(
        nodes, "rt", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape))], constants,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x})[0]
    want = np.clip(x / scale, -448, 448).astype(ml_dtypes.float8_e4m3fn).astype(np.float32) * scale
    assert np.array_equal(got, want) and got[0, 0] == 448 * scale
    assert onnx.checker.check_model(model) is None


@pytest.mark.slow
def test_the_fp8_model_keeps_the_fixtures_map_in_the_cpu_simulation(tmp_path: Path) -> None:
    """The trained fixture's FP8 Q/DQ model (head in float, as h100-fp8 builds it), scored by the evaluate stage's
    code on ONNX Runtime's CPU FP8 Q/DQ (the E4M3 round trip, test above): within the 1-point gate of FP32."""
    from dataclasses import replace as dc_replace

    from builder.backends.onnxruntime import onnxrt_runner
    from builder.backends.tensorrt.explicit import make_qdq_model
    from builder.pipeline.stages import export
    from builder.yolo.dataset import load_split
    from builder.yolo.evaluation import evaluate
    from tests.fixture_trainer.conftest import MODELS
    from tests.pipeline.stages.helpers import make_ctx

    spec = Int8Spec(data="fixtures/shapes/images/train", samples=32, type="fp8", head="float", cache="off")
    profile = trt_profile(precision=Precision.INT8, imgsz=(256, 256), int8=spec)
    profile = dc_replace(profile, model=dc_replace(profile.model, yaml=None, checkpoint="fixtures/shapes-yolo11n.pt"))
    ctx = make_ctx(profile, tmp_path, models_dir=MODELS)
    onnx_path = ctx.path(export.run(ctx).artifact("onnx"))
    fp8, record = make_qdq_model(ctx, onnx_path, "images")
    assert record["type"] == "fp8" and _fp8_facts(fp8)["scales_ok"]
    split = load_split(MODELS, "fixtures/shapes/data.yaml", "val", None)
    ref = evaluate(onnxrt_runner(onnx_path), "images", "output0", split, (256, 256))
    got = evaluate(onnxrt_runner(fp8), "images", "output0", split, (256, 256))
    assert ref.map50_95 > 0.85 and ref.map50_95 - got.map50_95 <= 0.01, (ref.map50_95, got.map50_95)


def _tiny_qdq(zero_dtype: int, zero: float, with_pair: bool = True) -> object:
    """A one-Conv Q/DQ model (activation pair + weight pair) at opset 17, zero points of ``zero_dtype``."""
    from onnx import TensorProto, helper

    w = np.random.default_rng(1).normal(0, 0.2, (4, 3, 3, 3)).astype(np.float32)
    inits = [
        helper.make_tensor("w", TensorProto.FLOAT, list(w.shape), w.ravel().tolist()),
        helper.make_tensor("xs", TensorProto.FLOAT, [], [0.02]),
        helper.make_tensor("xz", zero_dtype, [], [int(zero)]),
        helper.make_tensor("ws", TensorProto.FLOAT, [4], (np.abs(w).reshape(4, -1).max(1) / 127).tolist()),
        helper.make_tensor("wz", zero_dtype, [4], [int(zero)] * 4),
    ]
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"], name="x_Q"),
        helper.make_node("DequantizeLinear", ["xq", "xs", "xz"], ["xd"], name="x_DQ"),
        helper.make_node("QuantizeLinear", ["w", "ws", "wz"], ["wq"], name="w_Q", axis=0),
        helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["wd"], name="w_DQ", axis=0),
        helper.make_node("Conv", ["xd", "wd"], ["y"], name="conv"),
    ]
    if not with_pair:
        nodes, inits = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], inits[:1]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])], inits,
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_to_fp8_rescales_symmetric_int8_to_amax_over_448(tmp_path: Path) -> None:
    import onnx
    from onnx import numpy_helper

    from builder.backends.tensorrt.explicit import to_fp8

    path = tmp_path / "m.onnx"
    onnx.save(_tiny_qdq(onnx.TensorProto.INT8, 0), str(path))  # type: ignore[arg-type]
    record = to_fp8(path)
    inits = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}
    assert np.allclose(inits["xs"], 0.02 * 127 / 448) and record["quantize_nodes"] == 2
    w = inits["w"].reshape(4, -1)
    assert np.allclose(np.abs(w).max(1) / inits["ws"], 448, rtol=1e-6)  # each channel's amax lands on 448
    assert _fp8_facts(path)["zero_types"] == {onnx.TensorProto.FLOAT8E4M3FN} and _fp8_facts(path)["opset"] == 19


@pytest.mark.parametrize(
    "case, zero_dtype, zero, with_pair, message",
    [
        ("asymmetric uint8 (the CPU placement)", 2, 128, True, "is not symmetric INT8"),
        ("int8 with a non-zero zero point", 3, 5, True, "is not symmetric INT8"),
        ("no Q/DQ at all (an FP32 model)", 3, 0, False, "has no Q/DQ pairs"),
    ],
)
def test_to_fp8_refuses_what_is_not_the_tensorrt_int8_model(
    tmp_path: Path, case: str, zero_dtype: int, zero: float, with_pair: bool, message: str
) -> None:
    import onnx

    from builder.backends.tensorrt.explicit import to_fp8
    from builder.errors import EngineBuildError

    path = tmp_path / "m.onnx"
    onnx.save(_tiny_qdq(zero_dtype, zero, with_pair), str(path))  # type: ignore[arg-type]
    before = path.read_bytes()
    with pytest.raises(EngineBuildError) as err:
        to_fp8(path)
    assert message in str(err.value) and err.value.hint and path.read_bytes() == before, case


def test_onnx_runtimes_own_fp8_scale_saturates_heavy_tails() -> None:
    """Why ONNX Runtime's FP8 quantizer is not used (it scored mAP50-95 0.012/0.12 on the fixture): its scale comes
    from the tensor's standard deviation (onnxruntime 1.32 quant_utils.compute_scale_zp_float8), so a heavy-tailed
    activation (as SiLU outputs are) has values beyond 448 x scale, clipped; amax / 448 clips none."""
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import compute_scale_zp_float8

    x = np.random.default_rng(0).standard_t(2, 100_000).astype(np.float32)  # heavy tails
    _, scale = compute_scale_zp_float8(TensorProto.FLOAT8E4M3FN, np.std(x))
    clipped = float(np.mean(np.abs(x) > 448 * float(scale)))
    assert clipped > 0 and np.abs(x).max() / (448 * float(scale)) > 2  # the largest values lose more than half
    assert not np.any(np.abs(x) > 448 * (np.abs(x).max() / 448))


@pytest.mark.parametrize(
    "weight_shape, in_float",
    [
        ((32, 32, 3, 3), False),  # a backbone convolution: FP8
        ((5, 64, 1, 1), True),  # the class branch's last conv (5 classes): too few output channels
        ((64, 3, 3, 3), True),  # the stem: 3 input channels
        ((32, 32, 7, 7), True),  # filter area 49 > 32
        ((17, 17, 1, 1), False),  # just above the channel bound
    ],
)
def test_fp8_keeps_the_convolutions_tensorrt_has_no_fp8_kernel_for_in_float(
    tmp_path: Path, weight_shape: tuple[int, ...], in_float: bool
) -> None:
    """ModelOpt 0.47's FP8 rule (graph_utils.find_nodes_from_convs_to_exclude): channels <= 16 or filter area > 32."""
    import onnx
    from onnx import TensorProto, helper

    from builder.backends.tensorrt.explicit import fp8_unsupported_convs

    w = helper.make_tensor("w", TensorProto.FLOAT, list(weight_shape), [0.0] * int(np.prod(weight_shape)))
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, weight_shape[1], 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w],
    )  # fmt: skip
    path = tmp_path / "c.onnx"
    onnx.save(helper.make_model(graph), str(path))
    assert fp8_unsupported_convs(path) == (["conv"] if in_float else [])

"""Explicit (Q/DQ) INT8 on TensorRT: the Q/DQ model made by the shared calibration pipeline is what TensorRT parses,
with each version's flags and no calibrator, driven through the recording fake (trt_fakes.py).

API facts (NVIDIA/TensorRT ``python/src/infer/pyCore.cpp`` at release/10.0 .. 10.16 and release/11.0):
8.6 has no strong typing and needs ``BuilderFlag.INT8`` for Q/DQ layers (8.x developer guide, "Explicit
Quantization"); 10.x has ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` = 1 (release/10.0 .. 10.16; tensorrt-stubs
10.13 agree), with which the guide says precision flags are not set; 11.x is always strongly typed, has no
``BuilderFlag.INT8``/``FP16`` and no ``IInt8Calibrator`` (release/11.0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import builder.backends.tensorrt as backend
from builder.backends.tensorrt.settings import build_settings_from_profile
from builder.backends.tensorrt.versions import parse_trt_version
from builder.profile import BatchSpec, Int8Spec, Precision
from tests.backends.tensorrt.test_trt_backend import _calibration_images, build_ctx, trt_profile
from tests.backends.tensorrt.trt_fakes import H100, install, make_fake_trt

QDQ = trt_profile(precision=Precision.INT8, int8=Int8Spec(data="calib", samples=2), batch=BatchSpec(1, 1, 1))


@pytest.mark.parametrize(
    "version, network_flags, builder_flags",
    [
        ("8.6.1.6", ("EXPLICIT_BATCH",), ("INT8", "FP16")),
        ("10.8.0.43", ("STRONGLY_TYPED",), ()),
        ("11.0.0.114", (), ()),
    ],
)
def test_explicit_int8_flags_per_version(
    version: str, network_flags: tuple[str, ...], builder_flags: tuple[str, ...]
) -> None:
    settings = build_settings_from_profile(QDQ, parse_trt_version(version), H100)
    assert settings.network_flags == network_flags and settings.builder_flags == builder_flags
    assert settings.calibration is None and settings.layer_precisions == "" and settings.int8_quantization == "qdq"


@pytest.mark.parametrize(
    "version, network_flags, set_flags",
    [("8.6.1.6", 1 << 0, ["INT8", "FP16"]), ("10.3.0", 1 << 1, []), ("11.0.0.114", 0, [])],
)
def test_tensorrt_builds_the_qdq_model_without_a_calibrator(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    static_onnx: Path,
    version: str,
    network_flags: int,
    set_flags: list[str],
) -> None:
    import onnx
    from onnx import numpy_helper

    trt = make_fake_trt(version)
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, QDQ)
    _calibration_images(ctx)
    result = backend.build(ctx, ctx.workdir / "model.onnx")

    qdq = ctx.workdir / "model.qdq.onnx"
    calls: list[tuple[Any, ...]] = trt.calls
    assert [c for c in calls if c[0] == "parse_from_file"] == [("parse_from_file", str(qdq))]
    assert [c for c in calls if c[0] == "create_network"] == [("create_network", network_flags)]
    assert [c[1] for c in calls if c[0] == "config.set_flag"] == set_flags
    assert not [c for c in calls if c[0] in ("config.int8_calibrator", "calibrated", "config.set_calibration_profile")]
    assert not [c for c in calls if c[0].startswith("layer.")]  # placement is in the Q/DQ model, no pins
    assert [(a.path, a.kind) for a in result.artifacts] == [
        ("model.plan", "model"), ("layers.json", "layers"), ("model.qdq.onnx", "qdq-onnx")
    ]  # fmt: skip
    assert not (ctx.workdir / "calibration.cache").exists() and "calibration" not in result.details

    # the model TensorRT parsed: symmetric INT8 (zero points 0, as onnx-tensorrt requires), opset TensorRT 8.6 parses
    model = onnx.load(str(qdq))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    quant = [n for n in model.graph.node if n.op_type == "QuantizeLinear"]
    assert quant and {n.op_type for n in model.graph.node} >= {"QuantizeLinear", "DequantizeLinear", "Conv"}
    zero_points = [inits[n.input[2]] for n in quant]
    assert all(z.dtype == np.int8 and not z.any() for z in zero_points)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) <= 17
    weight_dq = [n for n in model.graph.node if n.op_type == "DequantizeLinear" and "weight" in n.input[0].lower()]
    assert weight_dq or any(n.input[0] in inits for n in quant)  # weights behind their own Q/DQ pair (float kept)
    head_float = [n.name for n in model.graph.node if n.name.startswith("/model.23/dfl/")]
    assert head_float and all(n.op_type != "QuantizeLinear" for n in model.graph.node if n.name in head_float)

    int8 = result.details["int8"]
    assert int8["quantization"] == "qdq" and int8["target"]["runtime"] == "tensorrt"
    assert int8["calibration_data"]["images"] == 2 and int8["head"]["mode"] == "decode"
    assert result.inputs["calibration"]["sha256"] == int8["calibration_data"]["sha256"]


def test_the_qdq_model_calibrates_once_and_reuses_its_ranges(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    install(monkeypatch, make_fake_trt("10.3.0"))
    ctx = build_ctx(tmp_path, static_onnx, QDQ)
    _calibration_images(ctx)
    first = backend.build(ctx, ctx.workdir / "model.onnx").details["int8"]["calibration_cache"]
    second = backend.build(ctx, ctx.workdir / "model.onnx").details["int8"]["calibration_cache"]
    assert (first["status"], second["status"]) == ("calibrated", "reused cache")
    assert "Conv" in first["key"]["method"]  # the TensorRT placement ranges other tensors than the CPU one


def test_fp16_on_11_builds_an_fp16_onnx_without_a_flag_and_keeps_io_and_the_decode_fp32(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    import onnx

    trt = make_fake_trt("11.0.0.114")  # no BuilderFlag.FP16 at all: setting it would raise AttributeError
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, trt_profile(precision=Precision.FP16))
    result = backend.build(ctx, ctx.workdir / "model.onnx")
    fp16 = ctx.workdir / "model.fp16.onnx"
    assert [c for c in trt.calls if c[0] == "parse_from_file"] == [("parse_from_file", str(fp16))]
    assert not [c for c in trt.calls if c[0] == "config.set_flag"]
    assert ("model.fp16.onnx", "fp16-onnx") in [(a.path, a.kind) for a in result.artifacts]
    model = onnx.load(str(fp16))
    f16, f32 = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    assert all(v.type.tensor_type.elem_type == f32 for v in (*model.graph.input, *model.graph.output))
    assert any(i.data_type == f16 for i in model.graph.initializer)  # the convolutions' weights are FP16
    assert result.details["fp16"]["fp32_nodes"] > 0 and result.details["fp16"]["head"] == "/model.23/"
    # on 8.6 / 10 the flag does it: the ONNX is unchanged
    s10 = build_settings_from_profile(trt_profile(precision=Precision.FP16), parse_trt_version("10.8.0.43"), H100)
    assert s10.builder_flags == ("FP16",) and not s10.fp16_onnx


@pytest.mark.slow
def test_the_fp16_onnx_keeps_the_fixtures_map_on_onnx_runtime(tmp_path: Path) -> None:
    """The FP16 model TensorRT 11 builds, scored on CPU by the evaluate stage's code (ONNX Runtime runs FP16)."""
    from dataclasses import replace as dc_replace

    from builder.backends.onnxruntime import onnxrt_runner
    from builder.backends.tensorrt.explicit import make_fp16_model
    from builder.pipeline.stage_types import StageContext
    from builder.pipeline.stages import export
    from builder.yolo.dataset import load_split
    from builder.yolo.evaluation import evaluate
    from tests.fixture_trainer.conftest import MODELS
    from tests.pipeline.stages.helpers import make_ctx

    profile = trt_profile(precision=Precision.FP16, imgsz=(256, 256))
    profile = dc_replace(profile, model=dc_replace(profile.model, yaml=None, checkpoint="fixtures/shapes-yolo11n.pt"))
    ctx: StageContext = make_ctx(profile, tmp_path, models_dir=MODELS)

    onnx_path = ctx.path(export.run(ctx).artifact("onnx"))
    fp16, _ = make_fp16_model(ctx, onnx_path)
    split = load_split(MODELS, "fixtures/shapes/data.yaml", "val", 30)
    ref = evaluate(onnxrt_runner(onnx_path), "images", "output0", split, (256, 256))
    half = evaluate(onnxrt_runner(fp16), "images", "output0", split, (256, 256))
    assert ref.map50_95 > 0.85 and ref.map50_95 - half.map50_95 <= 0.01


@pytest.mark.slow  # a real search: four models quantized and scored (about 40 s here)
def test_the_searched_plan_places_the_qdq_model_tensorrt_parses_and_is_reused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, static_onnx: Path
) -> None:
    """Issue 19: ``int8.search`` on TensorRT searches the TensorRT placement (scored by ONNX Runtime on CPU, not
    timed), keys and caches the plan like the CPU search, and a cached plan's float groups get no Q/DQ in the model
    TensorRT parses (TensorRT 11: no precision flag, no layer pin; facts as in the module docstring)."""
    import json

    import onnx

    from builder.backends.ort_quantize import TENSORRT, quantized_op_types
    from builder.backends.precision_search import node_groups
    from builder.profile import AccuracySpec, Int8Search
    from tests.support import link_shipped_models

    profile = trt_profile(
        precision=Precision.INT8,
        int8=Int8Spec(data="calib", samples=2, search=Int8Search(max_map_drop=0.01, max_candidates=3)),
        batch=BatchSpec(1, 1, 1),
        accuracy=AccuracySpec("fixtures/shapes/data.yaml", samples=4),
    )
    trt = make_fake_trt("11.0.0.114")
    install(monkeypatch, trt)
    ctx = build_ctx(tmp_path, static_onnx, profile)
    _calibration_images(ctx)
    link_shipped_models(ctx.models_dir)
    first = backend.build(ctx, ctx.workdir / "model.onnx").details["int8"]
    search = first["search"]
    assert search["status"] == "searched" and search["target"] == "tensorrt" and search["key"]["target"] == "tensorrt"
    assert search["transfers"]["latency"].startswith("does not transfer") and "most quantized" in search["selection"]
    assert all(row["latency_ms"] is None for row in search["pareto"])  # CPU latency is not measured for TensorRT
    assert "timing" not in search["cost"]["by_step"] and first["target"]["runtime"] == "tensorrt"
    chosen = min(search["pareto"], key=lambda r: r["nodes_in_float"] if r["passed"] else 1 << 30)
    assert search["plan"]["candidate"] == chosen["name"]  # the most quantized passing plan
    qdq = ctx.workdir / "model.qdq.onnx"
    assert [c for c in trt.calls if c[0] == "parse_from_file"] == [("parse_from_file", str(qdq))]
    assert not [c for c in trt.calls if c[0] == "config.set_flag" or c[0].startswith("layer.")]

    # a plan with a head branch in float (as a search on a trained model finds): the cached plan is what drives it
    graph = onnx.load(str(ctx.workdir / "model.onnx")).graph
    groups = node_groups([(n.name, n.op_type) for n in graph.node], quantized_op_types(TENSORRT))
    branch = next(g for g in groups if g.endswith("cv2.0"))
    stored = json.loads(Path(search["plan_cache"]).read_text())
    stored["plan"]["float_groups"] = [branch]
    Path(search["plan_cache"]).write_text(json.dumps(stored))
    again = backend.build(ctx, ctx.workdir / "model.onnx").details["int8"]
    assert again["search"]["status"] == "reused plan" and again["head"]["nodes_in_float"] == len(groups[branch])
    model = onnx.load(str(qdq))
    dq_out = {n.output[0] for n in model.graph.node if n.op_type == "DequantizeLinear"}
    fed = {n.name: any(i in dq_out for i in n.input) for n in model.graph.node if n.op_type == "Conv"}
    assert not any(fed[name] for name in groups[branch])  # the float group: no Q/DQ before its convolutions
    assert sum(fed.values()) >= len(fed) - len(groups[branch])  # every other convolution reads Q/DQ

"""Explicit (Q/DQ) INT8 on TensorRT: which flags each version takes, and the Q/DQ model the plan is built from.

The INT8 model is the one the shared calibration pipeline makes (:func:`builder.backends.ort_quantize.quantize`
with the :data:`~builder.backends.ort_quantize.TENSORRT` placement: ultralytics letterbox on the ``int8.data``
images, the keyed range cache, the data digest in the build key). TensorRT parses its QuantizeLinear /
DequantizeLinear nodes and takes the scales from them: no calibrator runs and no TensorRT calibration cache is
written on the GPU host.

Flags per version (NVIDIA "Explicit Quantization" guide, docs.nvidia.com/deeplearning/tensorrt/latest/
inference-library/quantized-types-explicit-quantization.html; precision flags deprecated from 10.12):

* 8.6: weakly typed; ``BuilderFlag.INT8`` is required for any Q/DQ layer (8.x developer guide), ``FP16`` lets the
  layers left in float (the head's decode) run in FP16, as the implicit build does. No strong typing exists.
* 10.x: ``NetworkDefinitionCreationFlag.STRONGLY_TYPED`` and no precision flags (the guide recommends strong
  typing for Q/DQ networks and says the precision flags are neither needed nor allowed with it;
  ``samples/python/strongly_type_autocast`` on release/10.16 sets the flag the same way). Layers outside Q/DQ
  run in the ONNX's type: FP32.
* 11.x: no flag at all: networks are always strongly typed and ``STRONGLY_TYPED`` is deprecated (renumbered to 0).

With ``int8.search`` the Q/DQ model is the searched plan's (:mod:`builder.backends.precision_search` with the
TensorRT placement, run on this host's CPU by ONNX Runtime): the float groups simply get no Q/DQ nodes; no layer is
pinned. Accuracy transfers, CPU latency does not (the search's ``transfers`` record).

FP16 on 11.x follows the same rule: no ``BuilderFlag.FP16`` exists, so the ONNX itself is FP16
(:func:`make_fp16_model`: ONNX Runtime's ``transformers.float16.convert_float_to_float16``, the converter
onnxconverter-common ships too, already in every image), inputs and outputs kept FP32 and the head's decode
(``int8.head: decode``'s nodes: DFL softmax, Sigmoid, box arithmetic) kept FP32 behind Casts. ONNX Runtime runs that
file on CPU, so its accuracy is checked here (tests/backends/tensorrt/test_trt_explicit_int8.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.backends.tensorrt.versions import TrtFeatures, TrtVersion
from builder.errors import HostEnvironmentError
from builder.machine.gpu import GpuInfo
from builder.pipeline.stage_types import StageContext
from builder.profile import Profile

QDQ_MODEL = "model.qdq.onnx"  # the explicit INT8 model TensorRT builds, published beside the plan
FP16_MODEL = "model.fp16.onnx"  # TensorRT 11's FP16: the precision is in the ONNX
QDQ = "qdq"
CALIBRATOR = "calibrator"
FP8 = "fp8"
#: E4M3's largest finite value (ONNX ``float8e4m3fn``; ml_dtypes.finfo(float8_e4m3fn).max) and INT8's symmetric
#: bound (ONNX Runtime's symmetric INT8 range is -127..127: quant_utils.get_qmin_qmax_for_qType)
E4M3_MAX = 448.0
INT8_SYMMETRIC_MAX = 127.0
FP8_OPSET = 19  # QuantizeLinear / DequantizeLinear take float8 from opset 19 (ONNX operator changelog)
FP8_MIN_CAPABILITY = (8, 9)  # Ada: L4, L40S; Hopper 9.0; Blackwell 10.0 (docs/tensorrt.md)
FP8_MIN_TENSORRT = (10, 0)  # the 8.6 parser reads opsets up to 17 (onnx-tensorrt release/8.6-GA operators.md)


def explicit_int8_flags(feats: TrtFeatures) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(network flags, builder flags)`` of an explicit INT8 build on the version ``feats`` describes."""
    if feats.family == "8.6":
        return feats.network_flags, ("INT8", "FP16")
    if feats.family == "10":
        return (*feats.network_flags, "STRONGLY_TYPED"), ()
    return feats.network_flags, ()  # 11: always strongly typed


def wants_fp8(profile: Profile) -> bool:
    return profile.int8 is not None and getattr(profile.int8, "type", "int8") == FP8


def check_fp8(profile: Profile, version: TrtVersion, gpu: GpuInfo | None) -> None:
    """Refuse FP8 where TensorRT or the GPU has none (the profile rules refuse it earlier for the target).

    Raises:
        HostEnvironmentError: TensorRT older than 10, or a GPU of compute capability below 8.9.
    """
    if not wants_fp8(profile):
        return
    if (version.major, version.minor) < FP8_MIN_TENSORRT:
        raise HostEnvironmentError(
            f"profile '{profile.name}' builds FP8 (`int8.type: fp8`), but TensorRT {version} cannot parse FP8 Q/DQ "
            f"(ONNX opset {FP8_OPSET}; its parser reads opsets up to 17)",
            hint='set `tensorrt: "10"` in the profile (the trt10 image: `make image FLAVOUR=trt10`)',
        )
    capability = gpu.cc_tuple if gpu is not None else None
    if capability is not None and capability < FP8_MIN_CAPABILITY:
        raise HostEnvironmentError(
            f"profile '{profile.name}' builds FP8 (`int8.type: fp8`), but this GPU ({gpu.name if gpu else '?'}, "
            f"compute capability {gpu.compute_capability if gpu else '?'}) has no FP8 tensor cores (8.9 or newer)",
            hint="build on an L4, L40S, H100, H200 or B200, or set `int8.type: int8`",
        )


#: FP8 convolutions TensorRT has no fast kernels for, kept in float (NVIDIA ModelOpt 0.47
#: ``modelopt/onnx/quantization/graph_utils.py`` ``find_nodes_from_convs_to_exclude``, fp8 mode: input or output
#: channels <= 16 (``_MIN_CHANNELS_FP8``: "slower than FP16 CASK kernels for small channels"), or a filter area > 32)
FP8_MIN_CHANNELS = 16
FP8_MAX_FILTER_AREA = 32


def fp8_unsupported_convs(onnx_path: Path) -> list[str]:
    """The Conv nodes of ``onnx_path`` that stay in float under FP8 (:data:`FP8_MIN_CHANNELS`,
    :data:`FP8_MAX_FILTER_AREA`); a Conv whose weight is not a constant stays in float too."""
    import math

    import onnx

    graph = onnx.load(str(onnx_path)).graph
    shapes = {i.name: list(i.dims) for i in graph.initializer}
    out: list[str] = []
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        shape = shapes.get(node.input[1]) if len(node.input) > 1 else None
        if not shape or len(shape) < 3:
            out.append(node.name)
            continue
        small = shape[0] <= FP8_MIN_CHANNELS or shape[1] <= FP8_MIN_CHANNELS
        if small or math.prod(shape[2:]) > FP8_MAX_FILTER_AREA:
            out.append(node.name)
    return out


def to_fp8(path: Path) -> dict[str, Any]:
    """Rewrite the symmetric INT8 Q/DQ model at ``path`` as FP8 E4M3 Q/DQ, in place; return what the manifest records.

    Every pair keeps its calibrated range: INT8's scale is amax/127 (per tensor for activations, per output channel
    for the weights, which stay float behind their own pair), so amax/448 is ``scale * 127 / 448``, E4M3's max
    calibration (what TensorRT's and ModelOpt's FP8 recipes use); zero points become float8e4m3fn zeros; the opset
    goes to 19 through ONNX's version converter. ONNX Runtime's own FP8 quantizer is not used: its scale is the
    tensor's standard deviation over E4M3's (``quant_utils.compute_scale_zp_float8``, a Gaussian match), which
    clips the heavy tails of YOLO's activations (mAP50-95 0.12 on the fixture against 0.92 in FP32).

    Raises:
        EngineBuildError: the model is not symmetric INT8 Q/DQ, or the conversion fails.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper, version_converter

    from builder.errors import EngineBuildError, first_line

    model = onnx.load(str(path))
    opset = max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if opset < FP8_OPSET:
        try:
            model = version_converter.convert_version(model, FP8_OPSET)
        except Exception as err:  # the converter raises plain exceptions
            raise EngineBuildError(
                f"could not convert {path.name} to ONNX opset {FP8_OPSET} for FP8: {first_line(err)}",
                hint='export with `opset: 19` and `tensorrt: "10"`, or build `int8.type: int8`',
            ) from err
    inits = {i.name: i for i in model.graph.initializer}
    done: set[str] = set()
    pairs = 0
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        pairs += node.op_type == "QuantizeLinear"
        scale_name, zero_name = node.input[1], node.input[2] if len(node.input) > 2 else ""
        if zero_name not in inits or scale_name not in inits:
            raise EngineBuildError(f"{path.name}: {node.name} has no constant scale and zero point",
                                   hint="build `int8.type: int8`")  # fmt: skip
        if zero_name in done and scale_name in done:  # shared by the pair's Q and DQ: already rewritten
            continue
        zero = numpy_helper.to_array(inits[zero_name])
        if zero.dtype != np.int8 or zero.any():
            raise EngineBuildError(f"{path.name}: {node.name} is not symmetric INT8 (zero point {zero.dtype})",
                                   hint="build `int8.type: int8`")  # fmt: skip
        for name in (scale_name, zero_name):
            if name in done:
                continue
            done.add(name)
            if name == scale_name:
                scale = numpy_helper.to_array(inits[name]).astype(np.float32) * (INT8_SYMMETRIC_MAX / E4M3_MAX)
                inits[name].CopyFrom(numpy_helper.from_array(scale.astype(np.float32), name))
            else:
                fp8 = onnx.helper.make_tensor(name, onnx.TensorProto.FLOAT8E4M3FN, list(zero.shape),
                                              [0.0] * int(zero.size))  # fmt: skip
                inits[name].CopyFrom(fp8)
    if not pairs:
        raise EngineBuildError(f"{path.name} has no Q/DQ pairs to make FP8", hint="build `int8.type: int8`")
    quantized = {n.output[0] for n in model.graph.node if n.op_type == "QuantizeLinear"}
    for info in model.graph.value_info:  # the shapes recorded for the INT8 tensors: now float8e4m3fn
        if info.name in quantized:
            info.type.tensor_type.elem_type = onnx.TensorProto.FLOAT8E4M3FN
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return {"element_type": "float8e4m3fn", "opset": FP8_OPSET, "scale": "amax / 448 (max calibration)",
            "quantize_nodes": pairs, "from": "the symmetric INT8 Q/DQ model's calibrated ranges"}  # fmt: skip


def make_qdq_model(ctx: StageContext, onnx_path: Path, input_name: str) -> tuple[Path, dict[str, Any]]:
    """Write ``model.qdq.onnx`` (TensorRT placement) from ``onnx_path``; return it and what the manifest records.

    Raises:
        ImageError: the calibration folder is missing or holds too few images.
        EngineBuildError: a stale calibration cache, or ONNX Runtime cannot quantize the model.
    """
    from builder.backends.ort_quantize import TENSORRT, quantize

    out = ctx.workdir / QDQ_MODEL
    key_inputs = ctx.manifest.key_inputs if ctx.manifest is not None else None
    spec = ctx.profile.int8
    if spec is not None and spec.search is not None:  # the searched plan's float groups place the Q/DQ nodes
        from builder.backends.onnxruntime import onnxrt_runner
        from builder.backends.precision_search import SearchInputs, search_plan
        from builder.pipeline.stage_types import ExportResult

        export = ctx.handed(ExportResult)
        output_name = export.outputs[0].name if export is not None and export.outputs else "output0"
        found = SearchInputs(onnx_path, out, input_name, output_name, ctx.models_dir, ctx.scratch, ctx.cache_dir,
                             key_inputs, onnxrt_runner)  # fmt: skip
        record = search_plan(ctx.profile, found, ctx.log, target=TENSORRT)
        return out, {"quantization": QDQ, "model": QDQ_MODEL, **record}
    fp8 = wants_fp8(ctx.profile)
    convs = fp8_unsupported_convs(onnx_path) if fp8 else []
    record = quantize(
        onnx_path, out, ctx.profile, ctx.models_dir, input_name,
        scratch=ctx.scratch, cache_dir=ctx.cache_dir, key_inputs=key_inputs, log=ctx.log, target=TENSORRT,
        also_float=convs,
    )  # fmt: skip
    if fp8:
        record["fp8"] = {**to_fp8(out), "convs_in_float": len(convs),
                         "convs_rule": f"input or output channels <= {FP8_MIN_CHANNELS} or filter area > "
                         f"{FP8_MAX_FILTER_AREA} (ModelOpt 0.47's FP8 rule)"}  # fmt: skip
        ctx.log(f"build: FP8 (E4M3) Q/DQ: {record['fp8']['quantize_nodes']} pair(s), scale amax/448, opset {FP8_OPSET}")
    return out, {"quantization": QDQ, "model": QDQ_MODEL, "type": FP8 if wants_fp8(ctx.profile) else "int8", **record}


def fp16_on_the_onnx(feats: TrtFeatures) -> bool:
    """True where FP16 must already be in the ONNX: TensorRT 11 (no ``BuilderFlag.FP16``)."""
    return not feats.precision_flags


def make_fp16_model(ctx: StageContext, onnx_path: Path) -> tuple[Path, dict[str, Any]]:
    """Write ``model.fp16.onnx`` (FP16 but IO and the head's decode); return it and what the manifest records.

    Raises:
        EngineBuildError: the conversion fails.
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    from builder.backends.ort_quantize import float_nodes
    from builder.errors import EngineBuildError, first_line

    out = ctx.workdir / FP16_MODEL
    model = onnx.load(str(onnx_path))
    head, kept = float_nodes([node.name for node in model.graph.node], "decode")
    try:
        converted = convert_float_to_float16(model, keep_io_types=True, node_block_list=kept)
    except Exception as err:  # the converter raises plain exceptions
        raise EngineBuildError(
            f"could not convert {onnx_path.name} to FP16: {first_line(err)}",
            hint='build FP16 in a TensorRT 10.x image (`tensorrt: "10"`), where the builder flag does it',
        ) from err
    onnx.save(converted, str(out))
    ctx.log(f"build: FP16 ONNX for TensorRT 11: {len(kept)} node(s) of the head {head}* kept in FP32, IO FP32")
    return out, {"model": FP16_MODEL, "converter": "onnxruntime.transformers.float16", "keep_io_types": True,
                 "fp32_nodes": len(kept), "head": head}  # fmt: skip

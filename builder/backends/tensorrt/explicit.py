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

from builder.backends.tensorrt.versions import TrtFeatures
from builder.stage_types import StageContext

QDQ_MODEL = "model.qdq.onnx"  # the explicit INT8 model TensorRT builds, published beside the plan
FP16_MODEL = "model.fp16.onnx"  # TensorRT 11's FP16: the precision is in the ONNX
QDQ = "qdq"
CALIBRATOR = "calibrator"


def explicit_int8_flags(feats: TrtFeatures) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(network flags, builder flags)`` of an explicit INT8 build on the version ``feats`` describes."""
    if feats.family == "8.6":
        return feats.network_flags, ("INT8", "FP16")
    if feats.family == "10":
        return (*feats.network_flags, "STRONGLY_TYPED"), ()
    return feats.network_flags, ()  # 11: always strongly typed


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
        from builder.stage_types import ExportResult

        export = ctx.handed(ExportResult)
        output_name = export.outputs[0].name if export is not None and export.outputs else "output0"
        found = SearchInputs(onnx_path, out, input_name, output_name, ctx.models_dir, ctx.scratch, ctx.cache_dir,
                             key_inputs, onnxrt_runner)  # fmt: skip
        record = search_plan(ctx.profile, found, ctx.log, target=TENSORRT)
        return out, {"quantization": QDQ, "model": QDQ_MODEL, **record}
    record = quantize(
        onnx_path, out, ctx.profile, ctx.models_dir, input_name,
        scratch=ctx.scratch, cache_dir=ctx.cache_dir, key_inputs=key_inputs, log=ctx.log, target=TENSORRT,
    )  # fmt: skip
    return out, {"quantization": QDQ, "model": QDQ_MODEL, **record}


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

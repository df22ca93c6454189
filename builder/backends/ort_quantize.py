"""ONNX Runtime INT8: static quantization (QDQ, per-channel weights) calibrated on real images.

The calibration images are the ones TensorRT INT8 uses (``int8.data``, ``int8.samples``:
:mod:`builder.yolo.calibration_data`) through the same letterbox as inference
(:func:`builder.yolo.preprocess.calibration_batches`). Activations are unsigned 8-bit (asymmetric), weights signed
8-bit per output channel, MinMax calibration: ONNX Runtime's recommended combination for x86 CPUs (U8S8; VNNI
runs it fast).

The detection head (the highest ``/model.N/`` module, as ultralytics and the TensorRT backend identify it) keeps
its decode in float (``int8.head: decode``): DFL, Sigmoid, the concatenations and the box arithmetic, whose one
output tensor carries both box coordinates (0..imgsz) and class scores (0..1), so one 8-bit scale cannot keep the
scores; its convolution branches are quantized, as ultralytics' INT8 exports do (they ignore the head's
Add/Sub/Mul/Div, DFL and Sigmoid). Measured on the trained fixture (docs/accuracy.md): mAP50-95 ~0 with all of it
quantized (``head: int8``), unchanged with the decode or the whole head (``float``) in float. The calibrated
tensor ranges are kept in a keyed cache (:mod:`builder.backends.ort_calibration`, ``int8.cache``), so an unchanged
model and data set calibrate once.
ONNX Runtime's temporary files (the augmented model it calibrates with) go to the build's scratch folder.

The same function makes TensorRT's explicit INT8 model (:data:`TENSORRT`): one Q/DQ ONNX from the same calibration
pipeline, placed as TensorRT's explicit-quantization rules want it (symmetric signed 8-bit activations and weights,
zero points 0; Q/DQ on the inputs of weighted ops and pooling/resize only; dedicated Q/DQ pairs; weights kept in
float behind their own Q/DQ pair; biases left in float, since TensorRT quantizes only INT8 inputs).
"""

from __future__ import annotations

import contextlib
import inspect
import re
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.backends import ort_calibration
from builder.backends.calibration_cache import publish_cache
from builder.common.hashing import sha256_file
from builder.errors import EngineBuildError, first_line
from builder.profile import Profile
from builder.yolo.calibration_data import calibration_set

ACTIVATIONS = "QUInt8"  # onnxruntime.quantization.QuantType member names
WEIGHTS = "QInt8"
FORMAT = "QDQ"
METHOD = "MinMax"


@dataclass(frozen=True)
class QdqTarget:
    """How the Q/DQ model is placed for one runtime: the ``quantize_static`` arguments that differ."""

    runtime: str
    activations: str  # QuantType member name
    extra_options: Mapping[str, Any] = field(default_factory=dict)
    op_types: tuple[str, ...] = ()  # op types quantized; () = ONNX Runtime's whole QDQ registry

    def record(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "activations": self.activations, "extra_options": dict(self.extra_options),
                "op_types": list(self.op_types) or "onnxruntime QDQ registry"}  # fmt: skip


#: ONNX Runtime on x86: U8S8, asymmetric activations (VNNI runs it fast); the whole QDQ registry.
ONNXRUNTIME_CPU = QdqTarget("onnxruntime", ACTIVATIONS)
#: TensorRT (8.6/10/11): symmetric INT8 (onnx-tensorrt refuses a non-zero zero point), a dedicated Q/DQ pair per
#: consumer and on every weight (``DedicatedQDQPair``, ``AddQDQPairToWeight``: TensorRT fuses each pair into the
#: layer that consumes it), per-channel weights (``QDQOpTypePerChannelSupportToAxis``: MatMul's output axis),
#: float biases (``QuantizeBias: False``), Q/DQ only before weighted ops and pooling/resize (NVIDIA's explicit
#: quantization guide: quantize the inputs of weighted layers, let TensorRT fuse the activations that follow).
#: Option meanings: onnxruntime 1.32 ``quantization/quantize.py`` ``StaticQuantConfig`` docstring.
TENSORRT = QdqTarget(
    "tensorrt",
    "QInt8",
    {
        "ActivationSymmetric": True,
        "WeightSymmetric": True,
        "DedicatedQDQPair": True,
        "AddQDQPairToWeight": True,
        "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1},
        "QuantizeBias": False,
    },
    ("Conv", "ConvTranspose", "Gemm", "MatMul", "MaxPool", "Resize"),
)


def quantized_op_types(target: QdqTarget) -> set[str]:
    """The op types ``quantize_static`` quantizes for ``target``: its own list, else ONNX Runtime's default (the
    QLinear and QDQ registries together, onnxruntime 1.32 ``quantize.py``)."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    return set(target.op_types) or set(QLinearOpsRegistry) | set(QDQRegistry)


def calibration_method(target: QdqTarget) -> str:
    """The calibration method as the range cache's key records it: the tensors ranged depend on the op types."""
    return METHOD if not target.op_types else f"{METHOD} on {','.join(target.op_types)}"


def head_prefix(names: Iterable[str]) -> str:
    """``/model.<N>/`` for the highest module index N in the node names (the detection head); "" if none."""
    indices = [int(m.group(1)) for name in names if (m := re.search(r"/model\.(\d+)/", name))]
    return f"/model.{max(indices)}/" if indices else ""


def float_nodes(names: list[str], mode: str) -> tuple[str, list[str]]:
    """(head prefix, the nodes kept in float) for ``int8.head`` ``mode`` (decode | float | int8).

    ``decode`` keeps the head's nodes outside its convolution branches (``cv2.0``, ``cv3.1``, ``one2one_cv2.0``…
    submodules): those are the decode. ``re.search``: ``nms=True`` exports prefix names with ``/model``.
    """
    head = head_prefix(names)
    if not head or mode == "int8":
        return head, []
    in_head = [n for n in names if head in n]
    if mode == "float":
        return head, in_head
    branch = re.compile(re.escape(head) + r"(?:one2one_)?cv\d+\.\d+/")
    return head, [n for n in in_head if not branch.search(n)]


def quantize(
    onnx_path: Path,
    out: Path,
    profile: Profile,
    models_dir: Path,
    input_name: str,
    *,
    scratch: Path,
    cache_dir: Path | None = None,
    key_inputs: Mapping[str, object] | None = None,
    log: Any = print,
    target: QdqTarget = ONNXRUNTIME_CPU,
    float_names: Sequence[str] | None = None,
    also_float: Sequence[str] = (),
) -> dict[str, Any]:
    """Write the INT8 model of ``onnx_path`` to ``out``; return what the manifest records.

    ``scratch``: a private folder for ONNX Runtime's temporary files; ``cache_dir``: where the keyed calibration
    cache lives (None: none kept); ``key_inputs``: the build key's inputs (the calibration digest computed there);
    ``target``: the runtime the Q/DQ placement is for; ``float_names``: the nodes kept in float (a searched plan)
    instead of ``int8.head``'s rule; ``also_float``: nodes kept in float on top of either (FP8's unsupported
    convolutions). The calibrated ranges do not depend on the target: one cache serves both.

    Raises:
        ImageError: the calibration folder is missing or holds too few images.
        EngineBuildError: a stale calibration cache, or ONNX Runtime cannot quantize the model.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    spec = profile.int8
    if spec is None:  # the profile loader requires the block for int8
        raise EngineBuildError("precision int8 without an `int8` block", hint="add `int8: {data: <folder>}`")
    data = calibration_set(models_dir, spec.data, spec.samples, key_inputs)
    batch = profile.batch.opt
    nodes = [node.name for node in onnx.load(str(onnx_path), load_external_data=False).graph.node]
    head, excluded = float_nodes(nodes, spec.head)
    rule = spec.head
    if float_names is not None:
        excluded, rule = [n for n in nodes if n in set(float_names)], "plan"
    by_rule = len(excluded)
    if also_float:
        excluded = [n for n in nodes if n in set(excluded) | set(also_float)]
    key = ort_calibration.calibration_key(
        data,
        spec.data,
        spec.samples,
        profile.imgsz,
        batch,
        sha256_file(onnx_path),
        version=ort.__version__,
        method=calibration_method(target),  # the tensors ranged
    )
    keeps_ranges = "calibration_cache_path" in inspect.signature(quantize_static).parameters  # 1.32 has it
    if not keeps_ranges and spec.cache == "auto":
        log(f"build: onnxruntime {ort.__version__} cannot save calibration ranges; calibrating without a cache")
    mode = spec.cache if keeps_ranges else "off"
    calib = ort_calibration.prepare(key, mode, cache_dir, profile.name, scratch)
    source = f"ranges from {calib.cache}" if calib.hit else f"{len(data.images)} calibration image(s)"
    log(
        f"build: INT8 quantization ({FORMAT} for {target.runtime}, per-channel, {METHOD}) on {source}; "
        + f"head {head}* ({rule}): {len(excluded)} node(s) kept in float"
    )
    started = time.perf_counter()
    cache_args = {"calibration_cache_path": str(calib.scratch)} if keeps_ranges else {}
    try:
        with _temporary_files_in(scratch), _without_preprocessing_advice():
            quantize_static(
                str(onnx_path),
                str(out),
                None if calib.hit else _Reader(list(data.images), profile.imgsz, batch, input_name),
                quant_format=getattr(QuantFormat, FORMAT),
                per_channel=True,
                activation_type=getattr(QuantType, target.activations),
                weight_type=getattr(QuantType, WEIGHTS),
                calibrate_method=getattr(CalibrationMethod, METHOD),
                nodes_to_exclude=excluded,
                op_types_to_quantize=list(target.op_types) or None,
                extra_options=dict(target.extra_options),
                **cache_args,
            )
    except Exception as err:  # ORT raises its own types; an unreadable image surfaces as ImageError from the reader
        from builder.yolo.preprocess import ImageError

        if isinstance(err, ImageError):
            raise
        raise EngineBuildError(
            f"ONNX Runtime could not quantize {onnx_path.name}: {first_line(err)}",
            hint="check the exported model loads in ONNX Runtime; try another opset",
        ) from err
    if calib.status == "calibrated" and calib.cache is not None and calib.sidecar is not None:
        publish_cache(calib.scratch, calib.cache, calib.sidecar, key)
        log(f"build: calibration ranges kept in {calib.cache}")
    return {
        "format": FORMAT,
        "per_channel": True,
        "target": target.record(),
        "activations": target.activations,
        "weights": WEIGHTS,
        "calibration": METHOD,
        "calibration_data": {
            "folder": spec.data,
            "images": data.images_used(batch),
            "batch": batch,
            "sha256": data.sha256,
        },
        "calibration_cache": calib.details(),
        "head": {"prefix": head, "mode": rule, "nodes_in_float": by_rule},
        "quantize_seconds": round(time.perf_counter() - started, 3),
    }


@contextlib.contextmanager
def _without_preprocessing_advice() -> Iterator[None]:
    """Drop ``quantize_static``'s "Please consider (to run) pre-processing" warnings (root logger, twice a build):
    its ``quant_pre_process`` is not used here, and the gate in ``evaluate`` judges the result."""
    import logging

    def keep(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider")

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


@contextlib.contextmanager
def _temporary_files_in(folder: Path) -> Iterator[None]:
    """Point :mod:`tempfile` (ONNX Runtime's augmented model and external data) at ``folder`` meanwhile: the
    container's root is read-only, and the build's scratch folder is removed after the build."""
    before = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = before


class _Reader:
    """ONNX Runtime's ``CalibrationDataReader`` protocol over the letterboxed calibration batches."""

    def __init__(self, images: list[Path], imgsz: tuple[int, int], batch: int, input_name: str) -> None:
        self.images, self.imgsz, self.batch, self.input_name = (images, imgsz, batch, input_name)
        self._batches: Iterator[Any] | None = None

    def get_next(self) -> dict[str, Any] | None:
        from builder.yolo.preprocess import calibration_batches

        if self._batches is None:
            self._batches = calibration_batches(self.images, self.imgsz, self.batch)
        array = next(self._batches, None)
        return None if array is None else {self.input_name: array}

    def rewind(self) -> None:
        self._batches = None

"""The TensorRT backend's own cross-key rules of a profile (the catalogue's ``profile_check``).

:func:`builder.profile.validate.validate_profile_data` calls :func:`check` for a profile whose backend is
``tensorrt``, after the field table's checks; like every profile rule, it reports into the :class:`Report` and
never raises. Nothing heavy is imported.
"""

from __future__ import annotations

from typing import Any

from builder.machine.gpu import parse_compute_capability
from builder.profile.validate import MISSING, Report


def check(data: dict[str, Any], report: Report) -> None:
    """The rules of a TensorRT profile that span several keys."""
    _check_ultralytics_engine(data, report)
    _check_tensorrt_version(data, report)
    _check_int8_dynamic_on_trt10(data, report)
    _check_frozen(data, report)
    _check_search_needs_qdq(data, report)
    _check_fp8(data, report)


def _check_ultralytics_engine(data: dict[str, Any], report: Report) -> None:
    both = (report.get(data, ("outputs", "ultralytics_engine")), report.get(data, ("version_compatible",)))
    if both != (True, True):
        return
    report.add(
        ("outputs", "ultralytics_engine"),
        "cannot be combined with version_compatible: true: a version-compatible "
        "plan embeds TensorRT's lean runtime as host code, which loads only with "
        "`runtime.engine_host_code_allowed = True`, and ultralytics' TensorRT loader never sets it, so "
        "YOLO('model.engine') would fail; keep one (model.plan of a version-compatible build loads with "
        "trtexec, Polygraphy or Triton)",
    )


#: what TensorRT 8.6 lacks that a profile can ask for: the highest ONNX opset its parser reads (onnx-tensorrt
#: release/8.6-GA docs/operators.md) and the newest GPUs it builds for (8.6 knows compute capability up to 9.0,
#: Hopper; Blackwell, 10.0 and newer, needs TensorRT 10.8+: TensorRT 10.8.0 release notes)
TRT86_MAX_OPSET = 17
TRT86_MAX_CAPABILITY = (9, 0)


def _check_tensorrt_version(data: dict[str, Any], report: Report) -> None:
    """Refuse on ``tensorrt: "8.6"`` (also the default) what only the TensorRT 10 image can build."""
    if not report.complete or ("tensorrt",) in report.bad:
        return
    version = report.get(data, ("tensorrt",))
    if version not in (MISSING, "8.6"):
        return
    opset = report.get(data, ("opset",))
    if isinstance(opset, int) and not isinstance(opset, bool) and opset > TRT86_MAX_OPSET:
        report.add(
            ("opset",),
            f"opset {opset} needs TensorRT 10 (the TensorRT 8.6 parser reads opsets up to "
            f'{TRT86_MAX_OPSET}): set `tensorrt: "10"` (the trt10 image) or `opset: {TRT86_MAX_OPSET}`',
        )
    capability = report.get(data, ("target", "compute_capability"))
    parsed = parse_compute_capability(capability) if capability is not MISSING else None
    if parsed is not None and parsed > TRT86_MAX_CAPABILITY:
        report.add(
            ("tensorrt",) if version is not MISSING else ("target", "compute_capability"),
            f"target compute capability {capability} (Blackwell or newer) needs TensorRT 10.8 or newer, but "
            f"the profile builds with TensorRT 8.6{'' if version is not MISSING else ' (the default)'}: "
            'set `tensorrt: "10"` (the trt10 image)',
        )


def _check_int8_dynamic_on_trt10(data: dict[str, Any], report: Report) -> None:
    """Refuse INT8 calibration with a dynamic batch on ``tensorrt: "10"`` (docs/tensorrt.md): TensorRT 10.8's
    ``NvInfer.h`` says a calibration profile must be set for runtime dimensions, ultralytics 8.4.190 skips it on 10.x
    ("causes internal errors"), and no GPU here could tell which is right."""
    keys = (("tensorrt",), ("precision",))
    if [report.get(data, key) for key in keys] != ["10", "int8"]:
        return
    if report.get(data, ("int8", "quantization")) != "calibrator":  # explicit Q/DQ (the default) calibrates on CPU
        return
    batch = data.get("batch")
    if isinstance(batch, dict) and len({batch.get("min"), batch.get("opt"), batch.get("max")}) > 1:
        report.add(
            ("batch",),
            'INT8 calibration with a dynamic batch is refused on `tensorrt: "10"`: TensorRT 10.8 asks for a '
            "calibration profile for runtime dimensions, ultralytics skips it on 10.x (internal errors), and it has "
            "not been tried on a GPU; use explicit quantization (`int8: {quantization: qdq}`, the default: the "
            'scales are in the ONNX), a static batch (`batch: N`), or `tensorrt: "8.6"`',
        )


def _check_frozen(data: dict[str, Any], report: Report) -> None:
    """``frozen`` (docs/tensorrt.md, "Frozen builds"): TensorRT 10 or newer, and no writable timing cache beside it.

    ``BuilderFlag.ERROR_ON_TIMING_CACHE_MISS`` is in TensorRT 10's ``NvInfer.h`` (value 16; also tensorrt-stubs
    10.13) and not in 8.6's, which lacks it.
    """
    if report.get(data, ("frozen",)) is MISSING:
        return
    version = report.get(data, ("tensorrt",))
    if version is MISSING or version == "8.6":
        report.add(
            ("frozen",),
            'needs TensorRT 10 or newer (`tensorrt: "10"`, the trt10 image): TensorRT 8.6 has no '
            "ERROR_ON_TIMING_CACHE_MISS builder flag" + (" (8.6 is the default)" if version is MISSING else ""),
        )
    cache = report.get(data, ("timing_cache",))
    if cache not in (MISSING, False, "off"):
        report.add(
            ("timing_cache",),
            f"cannot be combined with frozen: a frozen build reads its committed cache and never writes one; "
            f"set `timing_cache: off` (it is {cache!r})",
        )


def _check_search_needs_qdq(data: dict[str, Any], report: Report) -> None:
    """Refuse ``int8.search`` with the implicit calibrator: the searched plan is Q/DQ placement in the ONNX, which
    the calibrator build never reads (it would build another model than the one the search scored)."""
    search = report.get(data, ("int8", "search"))
    if search in (MISSING, None) or report.get(data, ("int8", "quantization")) != "calibrator":
        return
    report.add(
        ("int8", "search"),
        "the precision search places Q/DQ nodes in the ONNX, which `int8.quantization: calibrator` does not build "
        "from: drop `quantization: calibrator` (explicit Q/DQ, the default) or drop `search`",
    )


#: FP8 Q/DQ: the lowest compute capability with FP8 tensor cores (Ada, 8.9: NVIDIA TensorRT-RTX "Working with
#: Quantized Types", Transformer Engine support matrix) and the ONNX opset whose QuantizeLinear takes float8 (19)
FP8_MIN_CAPABILITY = (8, 9)
FP8_OPSET = 19


def _check_fp8(data: dict[str, Any], report: Report) -> None:
    """``int8.type: fp8``: explicit Q/DQ only, not searched, TensorRT 10 or newer, a target of compute capability
    8.9 or newer (docs/tensorrt.md, "Which precision from which path")."""
    if report.get(data, ("int8", "type")) != "fp8" or not report.complete:
        return
    if report.get(data, ("int8", "quantization")) == "calibrator":
        report.add(("int8", "type"), "fp8 is explicit Q/DQ only: drop `quantization: calibrator`")
    if report.get(data, ("int8", "search")) not in (MISSING, None):
        report.add(
            ("int8", "search"),
            "the precision search scores INT8 candidates, so its plan says nothing about FP8: drop `search` "
            "(FP8 keeps `int8.head`'s rule; `head: float` measured best, docs/tensorrt.md)",
        )
    if report.get(data, ("tensorrt",)) in (MISSING, "8.6"):
        report.add(
            ("int8", "type"),
            f"fp8 needs TensorRT 10 or newer: its Q/DQ nodes are ONNX opset {FP8_OPSET}, and the TensorRT 8.6 parser "
            f'reads opsets up to {TRT86_MAX_OPSET}; set `tensorrt: "10"`',
        )
    capability = report.get(data, ("target", "compute_capability"))
    parsed = parse_compute_capability(capability) if isinstance(capability, str) else None
    if parsed is None or parsed < FP8_MIN_CAPABILITY:
        report.add(
            ("target", "compute_capability"),
            "fp8 needs a target of compute capability 8.9 or newer (L4, L40S: 8.9; H100, H200: 9.0; B200: 10.0); "
            + ("give `target.compute_capability`" if parsed is None else f"{capability} has no FP8 tensor cores")
            + " (or build `type: int8`)",
        )

"""Pure translation of a profile into TensorRT builder settings, recorded verbatim in the manifest.

Every flag and enum is kept by *name* (``"FP16"``, ``"AMPERE_PLUS"``); only ``trt_calls`` turns names into
TensorRT objects. Nothing here imports TensorRT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from builder.backends.tensorrt.explicit import QDQ, check_fp8, explicit_int8_flags, fp16_on_the_onnx
from builder.backends.tensorrt.layer_precision import INT8_HEAD_RULE
from builder.backends.tensorrt.target import check_hardware_compatibility
from builder.backends.tensorrt.versions import TrtVersion, features_for
from builder.common.jsonable import jsonable
from builder.errors import EngineBuildError, FieldError, HostEnvironmentError, ProfileError
from builder.machine.gpu import GpuInfo
from builder.profile import HardwareCompatibility, Precision, Profile
from builder.yolo.shapes import input_shape

CALIBRATOR = "IInt8MinMaxCalibrator"  # as Ultralytics' onnx2engine: min/max suits YOLO's box+score head
PROFILING_VERBOSITY = "DETAILED"  # per-layer tactics in the engine inspector's JSON (layers.json)

# Ultralytics 8.4.190 ``utils/export/engine.py::onnx2engine`` for ``dynamic=True``: min (1, 3, 32, 32),
# opt = the export shape, max = (batch, 3, 2*H, 2*W). Its loader (``nn/backends/tensorrt.py``) predicts a
# dynamic engine with rect letterboxing (bus.jpg at 640 -> 480x640) and refuses a shape outside the profile.
ULTRALYTICS_MIN_SIDE = 32
ULTRALYTICS_MAX_FACTOR = 2
HW_FIXED = "fixed at imgsz"
HW_ULTRALYTICS = "32..2x imgsz (as ultralytics' onnx2engine for dynamic exports, so YOLO('model.engine') can letterbox)"


@dataclass(frozen=True)
class ShapeRange:
    """One optimization profile entry for an input: NCHW shapes."""

    min: tuple[int, ...]
    opt: tuple[int, ...]
    max: tuple[int, ...]


@dataclass(frozen=True)
class CalibrationSettings:
    """Implicit INT8 calibration (TensorRT 8.6 and 10.x only)."""

    data: str  # folder under the models folder
    samples: int
    batch: int  # images per calibration batch = the OPT batch (8.6 calibrates at the OPT shape)
    calibrator: str  # TensorRT calibrator class name
    use_calibration_profile: bool  # IBuilderConfig.set_calibration_profile (8.6 only)
    cache: str  # "auto" | "off"


@dataclass(frozen=True)
class TrtBuildSettings:
    """Everything ``trt_calls.plan_from_onnx`` sets on the builder, network, parser and config."""

    trt_version: str
    network_flags: tuple[str, ...]  # NetworkDefinitionCreationFlag names
    builder_flags: tuple[str, ...]  # BuilderFlag names to set
    cleared_flags: tuple[str, ...]  # BuilderFlag names to clear (TF32 is on by default)
    parser_flags: tuple[str, ...]  # OnnxParserFlag names
    workspace_bytes: int | None  # MemoryPoolType.WORKSPACE limit; None = TensorRT's default
    input_name: str
    input_shapes: ShapeRange
    builder_optimization_level: int
    hardware_compatibility_level: str  # HardwareCompatibilityLevel name
    profiling_verbosity: str  # ProfilingVerbosity name
    calibration: CalibrationSettings | None
    build_gpu: dict[str, Any] | None  # the GPU TensorRT builds (and times tactics) on
    input_hw_range: str = HW_FIXED  # why H/W are fixed or ranged (see shapes_from_profile)
    layer_precisions: str = ""  # INT8: the rule that keeps head layers out of INT8 (see precision_constraints)
    int8_quantization: str = ""  # INT8: "qdq" (explicit, builder.backends.tensorrt.explicit) or "calibrator"
    fp16_onnx: bool = False  # FP16 on TensorRT 11: an FP16 ONNX is built, no flag (explicit.make_fp16_model)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the manifest's build details."""
        return jsonable(asdict(self))


def shapes_from_profile(profile: Profile) -> ShapeRange:
    """NCHW min/opt/max from the profile's batch range and image size (3 channels).

    Height and width stay at ``imgsz``, except for a dynamic batch with ``outputs.ultralytics_engine``: that
    engine's header says ``dynamic``, so ultralytics feeds it rect-letterboxed images, and H/W get the range
    ultralytics' own ``onnx2engine`` gives them (:data:`HW_ULTRALYTICS`).
    """
    batch = profile.batch
    if profile.dynamic and profile.outputs.ultralytics_engine:
        height, width = profile.imgsz
        side, factor = ULTRALYTICS_MIN_SIDE, ULTRALYTICS_MAX_FACTOR
        return ShapeRange(
            min=(profile.batch.min, 3, side, side),
            opt=(profile.batch.opt, 3, height, width),
            max=(profile.batch.max, 3, factor * height, factor * width),
        )
    return ShapeRange(input_shape(profile, batch.min), input_shape(profile, batch.opt), input_shape(profile, batch.max))


def hw_range_reason(profile: Profile) -> str:
    """Why the optimization profile's height/width range is what it is (for the manifest)."""
    return HW_ULTRALYTICS if profile.dynamic and profile.outputs.ultralytics_engine else HW_FIXED


#: why INT8 with a dynamic batch is refused on TensorRT 10 (docs/tensorrt.md, "TensorRT 10 and dynamic INT8")
INT8_DYNAMIC_ON_10 = (
    "TensorRT 10.8's NvInfer.h says a calibration profile must be set for a network with runtime dimensions, "
    "while ultralytics 8.4.190 leaves it out on 10.x because it 'causes internal errors'; untried on a GPU here"
)


def build_settings_from_profile(
    profile: Profile, trt_version: TrtVersion, gpu: GpuInfo | None, *, input_name: str = "images"
) -> TrtBuildSettings:
    """The builder settings for ``profile`` on ``trt_version``, building on ``gpu``.

    Raises:
        HostEnvironmentError: the version is unsupported, or ``ampere_plus`` on a pre-Ampere GPU.
        ProfileError: ``ampere_plus`` with a pre-Ampere target.
    """
    feats = features_for(trt_version)
    check_hardware_compatibility(profile, gpu)
    check_fp8(profile, trt_version, gpu)
    flags: list[str] = []
    fp16_onnx = profile.precision is Precision.FP16 and fp16_on_the_onnx(feats)
    if profile.precision is Precision.FP16 and not fp16_onnx:
        flags.append("FP16")
    elif profile.precision is Precision.INT8:
        flags += ["INT8", "FP16"]  # layers left out of INT8 fall back to FP16, not FP32
    if profile.tf32:
        flags.append("TF32")
    if profile.version_compatible:
        flags.append("VERSION_COMPATIBLE")
    if profile.frozen is not None:
        flags.append(frozen_flag(profile, trt_version))
    compat = profile.hardware_compatibility is not HardwareCompatibility.NONE or profile.version_compatible
    calibration = None
    network_flags, quantization = feats.network_flags, ""
    if profile.precision is Precision.INT8:
        if profile.int8 is None:
            raise ProfileError([FieldError(profile.source, "int8", "precision int8 needs an `int8:` section (data)")])
        quantization = profile.int8.quantization
        if quantization != QDQ and profile.dynamic and not feats.calibration_profile:
            raise HostEnvironmentError(
                f"profile '{profile.name}' calibrates INT8 with a dynamic batch ({profile.batch.min}..."
                f"{profile.batch.max}), which this builder refuses on TensorRT {trt_version}: " + INT8_DYNAMIC_ON_10,
                hint="use explicit quantization (`int8: {quantization: qdq}`, the default), a static batch "
                '(`batch: N`), or TensorRT 8.6 (`tensorrt: "8.6"`, the trt image)',
            )
    if quantization == QDQ:  # explicit: the scales are in the Q/DQ model; no calibrator (explicit.py)
        network_flags, precision_flags = explicit_int8_flags(feats)
        flags = [*precision_flags, *(f for f in flags if f not in ("INT8", "FP16"))]
    elif profile.int8 is not None and profile.precision is Precision.INT8:
        calibration = CalibrationSettings(
            data=profile.int8.data,
            samples=profile.int8.samples,
            batch=profile.batch.opt,
            calibrator=CALIBRATOR,
            use_calibration_profile=feats.calibration_profile,
            cache=profile.int8.cache,
        )
    return TrtBuildSettings(
        trt_version=str(trt_version),
        network_flags=network_flags,
        builder_flags=tuple(flags),
        cleared_flags=() if profile.tf32 else ("TF32",),
        parser_flags=("NATIVE_INSTANCENORM",) if compat else (),  # Polygraphy's advice for compatible engines
        workspace_bytes=profile.workspace,
        input_name=input_name,
        input_shapes=shapes_from_profile(profile),
        builder_optimization_level=profile.builder_optimization_level,
        hardware_compatibility_level=profile.hardware_compatibility.name,
        profiling_verbosity=PROFILING_VERBOSITY,
        calibration=calibration,
        build_gpu=gpu.to_dict() if gpu is not None else None,
        input_hw_range=hw_range_reason(profile),
        layer_precisions=INT8_HEAD_RULE if calibration is not None and feats.precision_flags else "",
        int8_quantization=quantization,
        fp16_onnx=fp16_onnx,
    )


#: the first TensorRT major version with ``BuilderFlag.ERROR_ON_TIMING_CACHE_MISS`` that we build with (TensorRT 10
#: ``NvInfer.h``: "Emit error when a tactic being timed is not present in the timing cache. This flag has an effect
#: only when IBuilderConfig has an associated ITimingCache."; tensorrt-stubs 10.13: value 16; absent from 8.6)
FROZEN_MIN_MAJOR = 10
FROZEN_FLAG = "ERROR_ON_TIMING_CACHE_MISS"


def frozen_flag(profile: Profile, trt_version: TrtVersion) -> str:
    """The builder flag of a ``frozen`` profile: a tactic missing from the committed cache fails the build instead of
    being timed (docs/tensorrt.md, "Frozen builds").

    Raises:
        HostEnvironmentError: this TensorRT is older than 10 (the profile rule refuses ``tensorrt: "8.6"`` already;
            this catches an image whose TensorRT is not what the profile names).
    """
    if trt_version.major < FROZEN_MIN_MAJOR:
        raise HostEnvironmentError(
            f"profile '{profile.name}' is frozen (committed timing cache {profile.frozen}), which needs TensorRT "
            f"{FROZEN_MIN_MAJOR} or newer for {FROZEN_FLAG}; this is TensorRT {trt_version}",
            hint='build it in the trt10 image (`tensorrt: "10"`), or remove `frozen`',
        )
    return FROZEN_FLAG


def check_onnx_input(name: str, onnx_shape: Sequence[int | str | None], shapes: ShapeRange) -> None:
    """Refuse an ONNX input whose static dimensions contradict the optimization profile.

    ``onnx_shape`` holds ints for fixed dimensions and a name or None for dynamic ones.

    Raises:
        EngineBuildError: rank mismatch, or a fixed dimension outside the profile's min..max.
    """
    if len(onnx_shape) != len(shapes.opt):
        raise EngineBuildError(
            f"ONNX input '{name}' has {len(onnx_shape)} dimensions {list(onnx_shape)}, "
            f"expected NCHW {list(shapes.opt)}",
            hint="export the model for an image task (input NCHW) or check `imgsz` in the profile",
        )
    axes = ("batch", "channels", "height", "width")
    for axis, dim, lo, hi in zip(axes, onnx_shape, shapes.min, shapes.max, strict=False):
        if isinstance(dim, int) and dim > 0 and not (lo == hi == dim):
            raise EngineBuildError(
                f"ONNX input '{name}' has a fixed {axis} of {dim}, but the profile needs {lo}..{hi} "
                f"(shapes min {list(shapes.min)}, max {list(shapes.max)})",
                hint="re-export the ONNX with the profile's settings (dynamic batch for a batch range, "
                "`imgsz` as in the profile); delete the stale ONNX if it was reused",
            )

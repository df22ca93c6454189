"""The profile's shape: frozen dataclasses and the enums of closed choices.

A :class:`Profile` is always complete (every default filled in) and valid;
:mod:`builder.profile.load` is the only way to make one from YAML. Each dataclass is built
from the section of the field table (:mod:`builder.profile.fields`) that names it as ``cls``;
the table holds each field's kind, default and documentation, the dataclass its typed attribute.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from builder.backends.catalog import find_backend
from builder.common.jsonable import jsonable


class Backend(str, enum.Enum):
    """A backend of the catalogue (:mod:`builder.backends.catalog`, the one home of the names).

    The members name the built-in backends for code that refers to them (a test checks them against the
    catalogue); a backend registered in the catalogue later becomes a member when first asked for.
    """

    TENSORRT = "tensorrt"
    ONNXRUNTIME = "onnxruntime"

    @classmethod
    def _missing_(cls, value: object) -> Backend | None:
        if not isinstance(value, str) or find_backend(value) is None:
            return None
        member = str.__new__(cls, value)
        member._name_, member._value_ = value.upper(), value
        member = cls._value2member_map_.setdefault(value, member)  # type: ignore[assignment]
        # by name too: Python 3.11.2's Enum pickles and deep-copies a member as getattr(Backend, name) (Debian 12's
        # python3); later versions go by value
        cls._member_map_.setdefault(member._name_, member)
        return member


class Precision(str, enum.Enum):
    FP32 = "fp32"
    FP16 = "fp16"
    INT8 = "int8"


class HardwareCompatibility(str, enum.Enum):
    NONE = "none"
    AMPERE_PLUS = "ampere_plus"


@dataclass(frozen=True)
class ModelSpec:
    """Where the weights come from.

    Exactly one of ``checkpoint`` (a ``.pt`` path relative to the models
    folder, optionally pinned by ``sha256``) or ``yaml`` (a model YAML that
    ultralytics ships, e.g. ``yolo11n.yaml``, initialised with ``seed``).
    """

    checkpoint: str | None = None
    sha256: str | None = None
    yaml: str | None = None
    seed: int = 0

    @property
    def identity(self) -> str:
        """A string naming the weights, stable across machines (hash filled in by the caller)."""
        if self.yaml is not None:
            return f"yaml:{self.yaml}:seed={self.seed}"
        return f"checkpoint:{self.checkpoint}"


@dataclass(frozen=True)
class BatchSpec:
    """Batch sizes; ``min == opt == max`` means a static batch."""

    min: int = 1
    opt: int = 1
    max: int = 1

    @property
    def dynamic(self) -> bool:
        return not (self.min == self.opt == self.max)


@dataclass(frozen=True)
class Int8Spec:
    """INT8 calibration: images under ``data`` (relative to the models folder)."""

    data: str
    samples: int = 500
    cache: str = "auto"  # "auto" (keyed file in the cache volume) or "off"
    head: str = "decode"  # which of the detection head stays in float (decode | float | int8)
    quantization: str = "qdq"  # TensorRT: "qdq" (explicit, the Q/DQ model) or "calibrator" (implicit, 8.6/10 only)
    search: Int8Search | None = None  # ONNX Runtime: search the precision plan under an mAP budget
    type: str = "int8"  # TensorRT: the Q/DQ element type, "int8" or "fp8" (E4M3; compute capability >= 8.9, TRT 10+)


@dataclass(frozen=True)
class Int8Search:
    """The precision search: the fastest plan whose mAP50-95 drop stays within ``max_map_drop``."""

    max_map_drop: float = 0.01
    max_candidates: int = 8  # models quantized and evaluated at most (the search's cost bound)


@dataclass(frozen=True)
class TargetSpec:
    """The GPU the engine is meant for; ``None`` fields are not checked."""

    gpu: str | tuple[str, ...] | None = None  # accepted GPU name(s), e.g. "A10" or ("A10", "A10G")
    compute_capability: str | None = None  # "8.6"

    def __post_init__(self) -> None:
        if isinstance(self.gpu, list):  # a YAML list
            object.__setattr__(self, "gpu", tuple(self.gpu))


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


@dataclass(frozen=True)
class DetectionCheck:
    """Detection-level agreement between reference and artifact (top-k, no confidence filter)."""

    top_k: int = 100
    iou: float = 0.9
    score_atol: float = 0.02
    min_agreement: float = 0.98  # fraction of reference detections that must be matched


@dataclass(frozen=True)
class VerifySpec:
    seed: int = 0
    random_inputs: int = 2
    images: tuple[str, ...] = ("bus.jpg", "zidane.jpg")  # ultralytics assets, or paths under models
    tolerances: Mapping[str, Tolerance] = field(default_factory=dict)  # output name or "default"
    detection: DetectionCheck = DetectionCheck()

    def tolerance_for(self, output: str) -> Tolerance:
        return self.tolerances.get(output) or self.tolerances["default"]


@dataclass(frozen=True)
class AccuracySpec:
    """The mAP gate: a labelled split (``data``: a data.yaml under the models folder) and its thresholds."""

    data: str
    split: str = "val"
    samples: int | None = None  # first N images of the split; None: all
    max_map_drop: float = 0.01  # mAP50-95, artifact below the FP32 reference
    min_map50_95: float | None = None


@dataclass(frozen=True)
class BenchmarkSpec:
    warmup: int = 10
    iterations: int = 50
    budget_s: float = 3.0  # seconds (warm-up included); 0: no budget


@dataclass(frozen=True)
class OutputsSpec:
    ultralytics_engine: bool = False  # also write an engine with ultralytics' metadata header
    nms: str = "external"  # external | embedded | end2end: raw head, NMS in the graph, or the NMS-free head


@dataclass(frozen=True)
class Profile:
    """A complete, validated build profile."""

    name: str
    description: str
    backend: Backend
    model: ModelSpec
    task: str
    imgsz: tuple[int, int]  # (height, width)
    batch: BatchSpec
    precision: Precision
    int8: Int8Spec | None
    workspace: int | None  # bytes; None lets TensorRT decide
    timing_cache: str | None  # cache name, or None when off
    frozen: str | None  # committed timing cache under the models folder (TensorRT 10+), or None
    builder_optimization_level: int
    hardware_compatibility: HardwareCompatibility
    version_compatible: bool
    tf32: bool
    tensorrt: str  # "8.6" | "10": the TensorRT version, hence the image (backend catalogue's version_flavours)
    opset: int
    simplify: bool
    target: TargetSpec | None
    verify: VerifySpec
    benchmark: BenchmarkSpec
    outputs: OutputsSpec
    accuracy: AccuracySpec | None = None  # the mAP gate; None: none
    source: str = ""  # the file it came from (not part of the identity)
    extends_chain: tuple[str, ...] = ()  # files merged, base first (not part of the identity)

    @property
    def dynamic(self) -> bool:
        return self.batch.dynamic

    def to_dict(self) -> dict[str, Any]:
        """The resolved profile as JSON-able data (enums as values, tuples as lists)."""
        return jsonable(asdict(self))

    def identity_dict(self) -> dict[str, Any]:
        """What determines the build output: everything but where the profile came from."""
        data = self.to_dict()
        data.pop("source")
        data.pop("extends_chain")
        data.pop("description")
        if data.get("frozen") is None:  # added later: a profile that does not freeze keeps its digest (and build key)
            data.pop("frozen", None)
        return data

    def sha256(self) -> str:
        """Hash of :meth:`identity_dict` in canonical JSON."""
        text = json.dumps(self.identity_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

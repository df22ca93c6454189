"""The one table of profile fields: kinds, defaults, documentation, normalisation, the dataclass each section builds.

The loader validates with it, the complete step fills defaults from it and builds the
:class:`~builder.profile.model.Profile` through it (so does the reader of a manifest's resolved
profile), the JSON Schema (``profiles/profile.schema.json``) and the field reference in
``docs/profiles.md`` are generated from it. Which backends a key applies to is the backend
catalogue's (``builder/backends/catalog.py``). Adding a field: docs/dev/architecture.md, "Extending".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from builder.backends.catalog import TENSORRT, backend_names
from builder.profile.kinds import Boolean, Choice, Dynamic, Integer, Kind, Number, Size, Text
from builder.profile.model import (
    AccuracySpec,
    Backend,
    BatchSpec,
    BenchmarkSpec,
    DetectionCheck,
    HardwareCompatibility,
    Int8Search,
    Int8Spec,
    ModelSpec,
    OutputsSpec,
    Precision,
    Profile,
    TargetSpec,
    Tolerance,
    VerifySpec,
)
from builder.profile.sections import Either, Field, ListOf, MapOf, Section
from builder.profile.source import KeyPath
from builder.profile.units import UNITS
from builder.yolo.tasks import TASK_NAMES

NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
PROFILE_FILE_PATTERN = r"^_?[a-z0-9][a-z0-9._-]{0,63}$"  # a leading "_" marks an abstract base
NAME_HELP = (
    "is not a valid profile name: use lowercase letters, digits, '.', '_' and '-', start with a letter "
    "or digit (a leading '_' marks an abstract base), at most 64 characters, no folders"
)
DEFAULT_PROFILE = "cpu-fp32-shapes"
STRIDE = 32  # YOLO's largest stride: image sides must be multiples of it
SEED_MAX = 2**32 - 1
NMS_MODES = ("external", "embedded", "end2end")  # outputs.nms: who selects the final detections

PRECISION_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {
    "fp32": {
        "tolerance": {"atol": 1e-2, "rtol": 1e-3},
        "detection": {"top_k": 100, "iou": 0.99, "score_atol": 1e-3, "min_agreement": 1.0},
    },
    "fp16": {
        "tolerance": {"atol": 0.5, "rtol": 2e-2},
        "detection": {"top_k": 100, "iou": 0.9, "score_atol": 0.02, "min_agreement": 0.95},
    },
    "int8": {
        "tolerance": {"atol": 5.0, "rtol": 0.1},
        "detection": {"top_k": 100, "iou": 0.7, "score_atol": 0.1, "min_agreement": 0.8},
    },
}


def relative_path(suffix: tuple[str, str] | None = None) -> Text:
    """A path relative to the models folder that cannot leave it."""
    rules = [
        (r".", "must not be empty"),
        (r"^[^/~]", "must be a relative path (no leading '/' or '~')"),
        (r"^[^\\:\x00-\x1f]*$", "must not contain '\\', ':' or control characters"),
        (r"^(?!(?:.*/)?\.\.(?:/|$))", "must not contain '..' (paths stay inside the models folder)"),
    ]
    if suffix is not None:
        rules.append(suffix)
    return Text(rules=tuple(rules), max_length=1024, describe="a string (a relative path)")


def timing_cache_name(value: Any) -> str | None:
    """The cache name a valid ``timing_cache`` value means (``None`` when off)."""
    if value is True or value == "on":
        return "default"
    if value is False or value == "off" or value is None:
        return None
    return str(value)


def _both_sides(value: Any) -> Any:
    """``imgsz``: one side means a square image."""
    return [value, value] if isinstance(value, int) else value


def _batch_range(value: Any) -> Any:
    """``batch``: an integer means a static batch, ``min == opt == max``."""
    return {"min": value, "opt": value, "max": value} if isinstance(value, int) else value


_PROFILE_NAME = Text(rules=((PROFILE_FILE_PATTERN, NAME_HELP),), max_length=65)
_SIDE = Integer(STRIDE, 4096, multiple_of=STRIDE)
_BATCH = Integer(1, 256)
_FRACTION = Number(0.0, 1.0, exclusive_minimum=True)

MODEL = Section(
    (
        Field(
            "yaml",
            Text(
                rules=(
                    (
                        r"^[A-Za-z0-9][A-Za-z0-9._-]*\.ya?ml$",
                        "must be the file name of a model YAML that ultralytics ships, e.g. "
                        "'yolo11n.yaml' (no folders)",
                    ),
                ),
                max_length=128,
            ),
            "Model YAML shipped with ultralytics (`yolo11n.yaml`), initialised with `seed`; give this or `checkpoint`.",
        ),
        Field(
            "seed",
            Integer(0, SEED_MAX),
            "Torch seed for the random initialisation of `yaml` (only with `yaml`).",
            default=0,
        ),
        Field(
            "checkpoint",
            relative_path((r"\.pt$", "must be a .pt checkpoint")),
            "A `.pt` checkpoint, relative to the models folder; give this or `yaml`.",
        ),
        Field(
            "sha256",
            Text(rules=((r"^[0-9a-f]{64}$", "must be 64 lowercase hex digits (as sha256sum prints)"),), max_length=64),
            "Expected SHA-256 of `checkpoint`; the build refuses a file that does not match (only with `checkpoint`).",
        ),
    ),
    cls=ModelSpec,
)

BATCH_RANGE = Section(
    (
        Field("min", _BATCH, "Smallest batch the engine accepts.", required=True),
        Field("opt", _BATCH, "Batch TensorRT tunes for.", required=True),
        Field("max", _BATCH, "Largest batch the engine accepts (at most 256).", required=True),
    ),
    describe="a mapping {min, opt, max}",
    cls=BatchSpec,
)

INT8_SEARCH = Section(
    (
        Field(
            "max_map_drop",
            Number(0.0, 1.0),
            "Largest mAP50-95 drop below the FP32 reference a candidate plan may have (0.01 = one point); the "
            "search publishes the fastest candidate within it. Needs the profile's `accuracy` block (the data the "
            "candidates are scored on).",
            required=True,
        ),
        Field(
            "max_candidates",
            Integer(2, 64),
            "Most candidate plans quantized, timed and scored (the search's cost bound).",
            default=8,
        ),
    ),
    cls=Int8Search,
)

INT8 = Section(
    (
        Field("data", relative_path(), "Folder of calibration images, relative to the models folder.", required=True),
        Field("samples", Integer(1, 100_000), "How many calibration images to use.", default=500),
        Field(
            "cache",
            Choice(("auto", "off"), yaml_bools={False: "off"}),
            "`auto` keeps a calibration cache in the cache volume, keyed by the model, the calibration images, "
            "batch, image size and the TensorRT / ONNX Runtime version (a cache made from other inputs is refused); "
            "`off` never reads or writes one.",
            default="auto",
        ),
        Field(
            "head",
            Choice(("decode", "float", "int8")),
            "ONNX Runtime: how much of the detection head (the highest `/model.N/` nodes) is quantized. `decode`: "
            "its convolutions in INT8, its decode (DFL, Sigmoid, concatenations, box arithmetic) in float, as "
            "ultralytics' INT8 exports keep it; `float`: the whole head in float (slower, the safest); `int8`: all "
            "of it, which ruins the scores (boxes and scores share one output tensor; docs/accuracy.md). TensorRT's "
            "Q/DQ model follows the same rule.",
            default="decode",
        ),
        Field(
            "quantization",
            Choice(("qdq", "calibrator")),
            "TensorRT: `qdq` builds the explicit Q/DQ model made here by ONNX Runtime's quantizer on the calibration "
            "images (TensorRT 8.6, 10 and 11; no calibrator, no calibration cache on the GPU host); `calibrator`: "
            "TensorRT's implicit INT8 calibrator with ultralytics' layer-precision pins, as `yolo export int8=True` "
            "builds it (8.6 and 10 only; TensorRT 11 removed it). docs/tensorrt.md.",
            default="qdq",
        ),
        Field(
            "type",
            Choice(("int8", "fp8")),
            "TensorRT: the element type of the Q/DQ model. `fp8`: FP8 E4M3 Q/DQ (the same calibrated ranges, "
            "scale = amax / 448, opset 19) for GPUs of compute capability 8.9 or newer (L4, L40S, H100, H200, B200) "
            'with `tensorrt: "10"` or newer; needs `quantization: qdq` and a `target.compute_capability`. '
            "docs/tensorrt.md.",
            default="int8",
        ),
        Field(
            "search",
            INT8_SEARCH,
            "Search the precision plan instead of the fixed `head` rule: per-group quantization error on the "
            "calibration images orders the groups kept in float, candidates are timed and scored on the "
            "`accuracy` split, the fastest within `max_map_drop` is published (docs/accuracy.md). TensorRT: the "
            "same search on the TensorRT Q/DQ placement, scored on CPU but not timed (CPU latency does not rank GPU "
            "plans): the most quantized plan within the budget drives the Q/DQ model; needs `quantization: qdq`. "
            "`null`: no search.",
            default=None,
            nullable=True,
        ),
    ),
    cls=Int8Spec,
)

_GPU_NAME = Text(
    rules=((r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$", 'must be (part of) the GPU name as the driver reports it, e.g. "A10"'),),
    max_length=64,
)

TARGET = Section(
    (
        Field(
            "gpu",
            Either((_GPU_NAME, ListOf(_GPU_NAME, 1, 16, name="a list of GPU names"))),
            "GPU name(s) the engine is meant for, as the driver reports them less `NVIDIA` (`A10`, or a list "
            "`[A10, A10G]`); the model itself matches exactly, its first words (`H100` for `H100 PCIe`) as the "
            "same family. Checked against the build GPU.",
            type_doc="string or list of strings (up to 16)",
        ),
        Field(
            "compute_capability",
            Text(rules=((r"^[0-9]{1,2}\.[0-9]{1,2}$", 'must look like "8.6" (major.minor)'),), max_length=5),
            'Compute capability of the target GPU as a quoted string (`"8.6"`).',
        ),
    ),
    cls=TargetSpec,
)

TOLERANCE = Section(
    (
        Field("atol", Number(0.0), "Absolute tolerance.", default_doc="by precision"),
        Field("rtol", Number(0.0), "Relative tolerance.", default_doc="by precision"),
    ),
    cls=Tolerance,
)

DETECTION = Section(
    (
        Field("top_k", Integer(1, 10_000), "How many top-scoring candidates are compared.", default_doc="by precision"),
        Field("iou", _FRACTION, "IoU a matched box must reach, in (0, 1].", default_doc="by precision"),
        Field("score_atol", Number(0.0), "Largest score difference of a matched box.", default_doc="by precision"),
        Field(
            "min_agreement",
            _FRACTION,
            "Fraction of reference candidates that must be matched, in (0, 1].",
            default_doc="by precision",
        ),
    ),
    cls=DetectionCheck,
)

VERIFY = Section(
    (
        Field("seed", Integer(0, SEED_MAX), "Seed of the random inputs.", default=0),
        Field("random_inputs", Integer(0, 1000), "How many random input batches are compared.", default=2),
        Field(
            "images",
            ListOf(
                relative_path(
                    (r"\.(jpg|jpeg|png|bmp|webp)$", "must be an image file (.jpg, .jpeg, .png, .bmp, .webp)")
                ),
                0,
                64,
                name="a list of image names or paths",
            ),
            "Images compared: ultralytics sample assets (`bus.jpg`) or paths relative to the models folder.",
            default=["bus.jpg", "zidane.jpg"],
            type_doc="list of image names or relative paths (up to 64)",
        ),
        Field(
            "tolerances",
            MapOf(
                TOLERANCE,
                r"^[A-Za-z0-9_/][A-Za-z0-9_.:/-]{0,127}$",
                "is not an output name (letters, digits, '_', '.', ':', '/', '-')",
            ),
            "Tensor tolerances by output name; `default` applies to outputs not listed.",
            default={},
            default_doc="`default` by precision",
        ),
        Field(
            "detection",
            DETECTION,
            "Detection-level agreement with the FP32 reference (top-k, no score filter).",
            default={},
            default_doc="by precision",
        ),
    ),
    cls=VerifySpec,
)

BENCHMARK = Section(
    (
        Field("warmup", Integer(0, 100_000), "Untimed runs before measuring.", default=10),
        Field(
            "iterations",
            Integer(1, 1_000_000),
            "Timed runs (the most, except trtexec with a budget; `budget_s` may stop earlier).",
            default=50,
        ),
        Field(
            "budget_s",
            Number(0.0, 3600.0),
            "Seconds the benchmark may take, warm-up included; it stops at `iterations` or here, after at least 5 "
            "timed runs (trtexec cannot stop at whichever comes first: it times for the budget, see "
            "docs/tensorrt.md). 0: no budget.",
            default=3.0,
        ),
    ),
    cls=BenchmarkSpec,
)

ACCURACY = Section(
    (
        Field(
            "data",
            relative_path((r"\.ya?ml$", "must be a data.yaml file")),
            "An ultralytics `data.yaml`, relative to the models folder; its split folder must be inside it too (for "
            "classify: `names` and a split folder of class folders, ultralytics' ImageFolder layout).",
            required=True,
        ),
        Field(
            "split",
            Text(rules=((r"^[A-Za-z0-9_-]+$", "must be a key of data.yaml such as `val`"),), max_length=32),
            "The key of `data.yaml` naming the images evaluated.",
            default="val",
        ),
        Field(
            "samples",
            Integer(1, 1_000_000),
            "Evaluate only the first N images of the split (by file name); `null`: all of them.",
            default=None,
            nullable=True,
        ),
        Field(
            "max_map_drop",
            Number(0.0, 1.0),
            "Largest drop of the artifact's metric below the FP32 ONNX reference's (0.01 = one point): mAP50-95 for "
            "detect, mask mAP50-95 for segment, pose (OKS) mAP50-95 for pose, OBB mAP50-95 for obb, top-1 accuracy for "
            "classify.",
            default=0.01,
        ),
        Field(
            "min_map50_95",
            Number(0.0, 1.0),
            "Smallest value of that metric the artifact must reach; `null`: no floor.",
            default=None,
            nullable=True,
        ),
    ),
    cls=AccuracySpec,
)

OUTPUTS = Section(
    (
        Field(
            "ultralytics_engine",
            Boolean(),
            'Also publish a copy of the engine with the metadata header that ultralytics\' `YOLO("x.engine")` reads.',
            default=False,
        ),
        Field(
            "nms",
            Choice(NMS_MODES),
            "What the model returns (detect). `external`: the raw head `output0` (batch, 4 + classes, anchors), "
            "decoded and NMS-ed by the caller; `embedded`: ONNX `NonMaxSuppression` appended to the graph, "
            "`output0` (batch, 300, 6) final detections `x1, y1, x2, y2, score, class`; `end2end`: the NMS-free "
            "one-to-one head of models that have one (YOLO26), same output (docs/outputs.md).",
            default="external",
        ),
    ),
    cls=OutputsSpec,
)

PROFILE = Section(
    (
        Field(
            "name",
            _PROFILE_NAME,
            "Profile name; must equal the file name without `.yaml`.",
            required=True,
            per_file=True,
        ),
        Field("description", Text(max_length=500), "One line saying what the profile is for.", default=""),
        Field(
            "extends",
            _PROFILE_NAME,
            "Name of a profile in the same folder that this file starts from; nested keys merge, this file wins.",
            per_file=True,
            stored=False,
        ),
        Field(
            "backend",
            Dynamic(lambda: Choice(backend_names(), as_type=Backend)),
            "The backend that builds the artifact: `tensorrt` (NVIDIA GPU engine), `onnxruntime` (CPU artifact), "
            "or another backend of the catalogue (see the backend table below).",
            required=True,
        ),
        Field(
            "model",
            MODEL,
            "Where the weights come from: exactly one of `yaml` or `checkpoint`. A child profile's "
            "`model` replaces its base's whole.",
            required=True,
            replace_on_extend=True,
        ),
        Field(
            "task",
            Choice(TASK_NAMES),
            "Model task, as ultralytics names it: `detect`, `segment` (boxes and masks: two outputs), `pose` "
            "(boxes and keypoints), `obb` (oriented boxes) or `classify` (class scores); the checkpoint must be a "
            "model of this task. Each task is verified and gated on its own metric (docs/tasks.md).",
            default="detect",
        ),
        Field(
            "imgsz",
            Either((_SIDE, ListOf(_SIDE, 2, 2, name="a list [height, width]"))),
            f"Input size: one side or `[height, width]`, multiples of {STRIDE}, at most 4096.",
            default=640,
            type_doc=f"integer or `[height, width]`, each {STRIDE}..4096 and a multiple of {STRIDE}",
            normalize=_both_sides,
        ),
        Field(
            "batch",
            Either((_BATCH, BATCH_RANGE)),
            "Static batch (an integer) or a dynamic range `{min, opt, max}`, 1 <= min <= opt <= max <= 256.",
            default=1,
            type_doc="integer 1..256 or mapping `{min, opt, max}`",
            normalize=_batch_range,
        ),
        Field(
            "precision",
            Choice(("fp32", "fp16", "int8"), as_type=Precision),
            "Engine precision; `int8` needs an `int8` block; each backend supports the precisions of the backend "
            "table below (onnxruntime: `fp32`, `int8`).",
            required=True,
        ),
        Field(
            "int8",
            INT8,
            "INT8 calibration; required when `precision: int8`, an error otherwise.",
            default=None,
            nullable=True,
        ),
        Field(
            "workspace",
            Size(UNITS["MiB"], UNITS["TiB"]),
            "TensorRT workspace limit (`4GiB`, `512MiB`, `1.5GB`, bytes); `null` lets TensorRT decide.",
            default=None,
            nullable=True,
        ),
        Field(
            "timing_cache",
            Either(
                (
                    Boolean(),
                    Text(
                        rules=(
                            (
                                r"^(on|off|[a-z0-9][a-z0-9._-]{0,63})$",
                                "must be on, off or a cache name (lowercase letters, digits, '.', '_', '-')",
                            ),
                        ),
                        max_length=64,
                    ),
                )
            ),
            "`on` (the cache named `default`), `off`, or a cache name; kept in the cache volume per GPU and "
            "TensorRT version.",
            default="off",
            type_doc="`on` | `off` | cache name",
            normalize=timing_cache_name,
        ),
        Field(
            "frozen",
            relative_path((r"\.cache$", "must name a TensorRT timing cache file (ending in .cache)")),
            "TensorRT 10 and newer: build from this committed timing cache (a path under the models folder), read "
            "only, with `ERROR_ON_TIMING_CACHE_MISS` and the recorded `builder_optimization_level`, so that a "
            "rebuild on the same GPU model, driver and TensorRT picks the same tactics (docs/tensorrt.md, "
            '"Frozen builds"); `null` (the default): tactics are timed.',
            default=None,
            nullable=True,
        ),
        Field("builder_optimization_level", Integer(0, 5), "TensorRT builder optimization level, 0..5.", default=3),
        Field(
            "hardware_compatibility",
            Choice(("none", "ampere_plus"), as_type=HardwareCompatibility),
            "`ampere_plus` builds an engine that runs on any GPU of compute capability 8.0 or newer (slower).",
            default="none",
        ),
        Field(
            "version_compatible",
            Boolean(),
            "Build a version-compatible engine (loads on later TensorRT versions too; 8.6 and newer).",
            default=False,
        ),
        Field("tf32", Boolean(), "Allow TF32 math for FP32 layers on Ampere and newer.", default=False),
        Field(
            "tensorrt",
            Choice(TENSORRT.versions()),
            'TensorRT version, quoted; picks the image: `"8.6"` builds in `trt` (NGC 23.08), `"10"` in `trt10` '
            "(NGC 25.01, TensorRT 10.8; needed for Blackwell, compute capability 10.0 and newer).",
            default=TENSORRT.versions()[0],
        ),
        Field("opset", Integer(11, 20), "ONNX opset of the export (TensorRT 8.6 reads at most 17).", default=17),
        Field("simplify", Boolean(), "Simplify the ONNX graph (onnxslim) after export.", default=True),
        Field(
            "target",
            TARGET,
            "The GPU the engine is meant for; `null` (the default) checks nothing.",
            default=None,
            nullable=True,
        ),
        Field("verify", VERIFY, "How the built model is compared with the FP32 ONNX Runtime reference.", default={}),
        Field(
            "accuracy",
            ACCURACY,
            "mAP gate: the artifact and the FP32 reference evaluated on a labelled split; "
            "`null` (the default): no gate.",
            default=None,
            nullable=True,
        ),
        Field("benchmark", BENCHMARK, "Latency measurement.", default={}),
        Field("outputs", OUTPUTS, "Extra files to publish.", default={}),
    ),
    cls=Profile,
)


def iter_fields(section: Section | None = None, prefix: KeyPath = ()) -> Iterator[tuple[KeyPath, Field]]:
    """Every field of the table with its key path; free-form names appear as ``"<output>"``."""
    for spec in (section or PROFILE).fields:
        path = prefix + (spec.name,)
        yield path, spec
        yield from _nested(spec.kind, path)


def _nested(kind: Kind, path: KeyPath) -> Iterator[tuple[KeyPath, Field]]:
    if isinstance(kind, Section):
        yield from iter_fields(kind, path)
    elif isinstance(kind, MapOf):
        yield from _nested(kind.value, path + ("<output>",))
    elif isinstance(kind, Either):
        for option in kind.options:
            yield from _nested(option, path)

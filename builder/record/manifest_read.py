"""The one manifest reader: ``read_manifest(path_or_bytes) -> ManifestView``.

The writer (:mod:`builder.record.manifest`) builds frozen records; every consumer reads them back through
:func:`read_manifest`, which parses the JSON strictly (:mod:`builder.common.strict_json`), checks it once against the
schema and the profile validation (:func:`builder.record.manifest.checked_manifest`), and turns it into the typed views
below. A field a consumer reads is an attribute here, so a renamed field is a mypy error, not a silent ``"?"``.

Every refusal is an :class:`~builder.errors.ArtifactError` (NO-GO, exit 5) whose message names the field::

    ERROR build/manifest.json: manifest field benchmark.latency_ms.p50: 'fast' is not a number

Adopting it in new code::

    from builder.record.manifest_read import read_manifest

    manifest = read_manifest(build_dir / MANIFEST_NAME)  # or the bytes of a manifest, or a parsed dict
    manifest.profile.name, manifest.model.sha256, manifest.benchmark.latency_ms.p50 ...

The stages and artifacts are the writer's own :class:`~builder.record.manifest.StageRecord` and
:class:`~builder.record.manifest.ArtifactRecord`. A stage's ``details`` are open-ended (each stage records what it
measured); the ones consumers read have typed views (:class:`BenchmarkView`, :class:`VerificationView`,
:class:`EvaluationView`, :class:`ExportView`), and ``data`` fields keep the raw mapping for generic walks (drift's
leaf diffs, ``profile_from_resolved``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from builder.common.strict_json import JsonContentError, loads
from builder.errors import ArtifactError
from builder.record.manifest import ArtifactRecord, StageRecord, checked_manifest, load_manifest

_HINT = "the manifest was edited or written by another tool; rebuild or re-copy the artifact"
_EMPTY: Mapping[str, Any] = {}
_V = TypeVar("_V")


class ManifestFieldError(ValueError):
    """A manifest field that is missing or of the wrong type; ``field`` is its dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


def _path(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


class _Fields:
    """Typed reads of one JSON object, each naming its dotted field when it refuses."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise ManifestFieldError(where, f"{_kind(data)} is not an object")
        self.data: Mapping[str, Any] = data
        self.where = where

    def field(self, key: str) -> str:
        return _path(self.where, key)

    def _typed(self, key: str, types: tuple[type, ...], what: str, *, required: bool) -> Any:
        if key not in self.data or (self.data[key] is None and not required):
            if required:
                raise ManifestFieldError(self.field(key), "missing")
            return None
        value = self.data[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ManifestFieldError(self.field(key), f"{_kind(value)} is not {what}")
        return value

    def text(self, key: str) -> str:
        value: str = self._typed(key, (str,), "a string", required=True)
        return value

    def opt_str(self, key: str) -> str | None:
        value: str | None = self._typed(key, (str,), "a string", required=False)
        return value

    def opt_int(self, key: str) -> int | None:
        value: int | None = self._typed(key, (int,), "an integer", required=False)
        return value

    def opt_float(self, key: str) -> float | None:
        value = self._typed(key, (int, float), "a number", required=False)
        return None if value is None else float(value)

    def opt_bool(self, key: str) -> bool | None:
        value: bool | None = self._typed(key, (bool,), "true or false", required=False)
        return value

    def obj(self, key: str) -> _Fields:
        """The object at ``key`` (an empty one when absent or null)."""
        value = self.data.get(key)
        return _Fields(_EMPTY if value is None else value, self.field(key))

    def opt_obj(self, key: str) -> _Fields | None:
        value = self.data.get(key)
        return None if value is None else _Fields(value, self.field(key))

    def items(self, key: str) -> list[tuple[str, Any]]:
        """``(dotted field, item)`` for the list at ``key`` (none when absent or null)."""
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ManifestFieldError(self.field(key), f"{_kind(value)} is not a list")
        return [(f"{self.field(key)}[{i}]", item) for i, item in enumerate(value)]


def _kind(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"a {type(value).__name__}"


@dataclass(frozen=True)
class TargetView:
    """The GPU a profile targets (``profile.resolved.target``; empty: no target)."""

    gpus: tuple[str, ...] = ()  # accepted GPU names (``target.gpu``: one name or a list)
    compute_capability: str | None = None

    @staticmethod
    def of(f: _Fields) -> TargetView:
        gpu = f.data.get("gpu")
        if isinstance(gpu, str):
            return TargetView((gpu,), f.opt_str("compute_capability"))
        gpus = f.items("gpu")
        for where, item in gpus:
            if not isinstance(item, str):
                raise ManifestFieldError(where, f"{_kind(item)} is not a string")
        return TargetView(tuple(item for _, item in gpus), f.opt_str("compute_capability"))


@dataclass(frozen=True)
class ResolvedView:
    """The resolved profile a build used (``profile.resolved``); ``data`` is the whole of it."""

    backend: str
    task: str | None
    precision: str | None
    description: str | None
    hardware_compatibility: str | None
    version_compatible: bool | None
    target: TargetView
    frozen: str | None  # the committed timing cache a frozen TensorRT build read (models-relative)
    checkpoint: str | None  # model.checkpoint (None: built from a model YAML)
    data: Mapping[str, Any]

    @staticmethod
    def of(f: _Fields) -> ResolvedView:
        return ResolvedView(
            backend=f.text("backend"),
            task=f.opt_str("task"),
            precision=f.opt_str("precision"),
            description=f.opt_str("description"),
            hardware_compatibility=f.opt_str("hardware_compatibility"),
            version_compatible=f.opt_bool("version_compatible"),
            target=TargetView.of(f.obj("target")),
            frozen=f.opt_str("frozen"),
            checkpoint=f.obj("model").opt_str("checkpoint"),
            data=f.data,
        )


@dataclass(frozen=True)
class ProfileView:
    name: str
    source: str | None
    sha256: str
    resolved: ResolvedView

    @staticmethod
    def of(f: _Fields) -> ProfileView:
        return ProfileView(f.text("name"), f.opt_str("source"), f.text("sha256"), ResolvedView.of(f.obj("resolved")))


@dataclass(frozen=True)
class InputRef:
    """One recorded input (``inputs.weights``, ``inputs.calibration``, ``inputs.onnx``)."""

    sha256: str | None
    identity: str | None
    path: str | None

    @staticmethod
    def of(f: _Fields | None) -> InputRef | None:
        return None if f is None else InputRef(f.opt_str("sha256"), f.opt_str("identity"), f.opt_str("path"))


@dataclass(frozen=True)
class InputsView:
    weights: InputRef | None
    calibration: InputRef | None
    onnx: InputRef | None
    data: Mapping[str, Any]

    @staticmethod
    def of(f: _Fields) -> InputsView:
        refs = [InputRef.of(f.opt_obj(key)) for key in ("weights", "calibration", "onnx")]
        return InputsView(refs[0], refs[1], refs[2], f.data)


@dataclass(frozen=True)
class GpuView:
    name: str | None
    compute_capability: str | None
    driver_version: str | None

    @staticmethod
    def of(f: _Fields) -> GpuView:
        return GpuView(f.opt_str("name"), f.opt_str("compute_capability"), f.opt_str("driver_version"))

    def as_dict(self) -> dict[str, str]:
        """The fields that are set, as host facts hold a GPU (builder/verify/compat.py)."""
        pairs = (("name", self.name), ("compute_capability", self.compute_capability))
        return {k: v for k, v in (*pairs, ("driver_version", self.driver_version)) if v is not None}


@dataclass(frozen=True)
class ImageView:
    """The Docker image a build ran in (``environment.image``; all None for a bare build)."""

    id: str | None = None
    ref: str | None = None
    base: str | None = None
    base_id: str | None = None
    base_pinned: str | None = None  # the pinned base reference the image was built from

    @staticmethod
    def of(f: _Fields) -> ImageView:
        fields = ("id", "ref", "base", "base_id", "base_pinned")
        return ImageView(*(f.opt_str(key) for key in fields))

    @property
    def name(self) -> str | None:
        """The reference, else the ID."""
        return self.ref or self.id


@dataclass(frozen=True)
class EnvironmentView:
    python: str | None
    machine: str | None
    platform: str | None
    executable: str | None
    in_container: bool | None
    packages: Mapping[str, str | None]
    gpus: tuple[GpuView, ...]
    driver: str | None
    cuda: str | None
    tensorrt: str | None
    image: ImageView
    identity: str | None  # the environment identity (``image:deps=…;base=…`` or ``bare:…``)

    def package(self, name: str) -> str | None:
        """The recorded version of package ``name`` (None: not installed or not recorded)."""
        return self.packages[name] if name in self.packages else None

    @staticmethod
    def of(f: _Fields) -> EnvironmentView:
        packages = f.obj("packages")
        return EnvironmentView(
            python=f.opt_str("python"),
            machine=f.opt_str("machine"),
            platform=f.opt_str("platform"),
            executable=f.opt_str("executable"),
            in_container=f.opt_bool("in_container"),
            packages={name: packages.opt_str(name) for name in packages.data},
            gpus=tuple(GpuView.of(_Fields(item, where)) for where, item in f.items("gpus")),
            driver=f.opt_str("driver"),
            cuda=f.opt_str("cuda"),
            tensorrt=f.opt_str("tensorrt"),
            image=ImageView.of(f.obj("image")),
            identity=f.opt_str("identity"),
        )


@dataclass(frozen=True)
class ErrorView:
    """Why a build failed (``error``)."""

    stage: str | None
    message: str | None
    hint: str | None
    exit_code: int | None = None
    internal: bool | None = None  # a bug in Engine Foundry (exit 70), not a user error
    exception: str | None = None  # the bug's exception type

    @staticmethod
    def of(f: _Fields | None) -> ErrorView | None:
        if f is None:
            return None
        return ErrorView(f.opt_str("stage"), f.opt_str("message"), f.opt_str("hint"), f.opt_int("exit_code"),
                         f.opt_bool("internal"), f.opt_str("exception"))  # fmt: skip


@dataclass(frozen=True)
class Latency:
    """Milliseconds per batch (builder/timing/summary.py LATENCY_KEYS)."""

    p50: float | None
    p90: float | None
    p99: float | None
    mean: float | None = None
    min: float | None = None
    max: float | None = None

    def percentile(self, pct: str) -> float | None:
        """The percentile named ``p50``, ``p90`` or ``p99``."""
        return {"p50": self.p50, "p90": self.p90, "p99": self.p99}[pct]

    def as_dict(self) -> dict[str, float]:
        """The recorded numbers by name (for reports)."""
        pairs = {"p50": self.p50, "p90": self.p90, "p99": self.p99, "mean": self.mean, "min": self.min}
        return {k: v for k, v in {**pairs, "max": self.max}.items() if v is not None}

    @staticmethod
    def of(f: _Fields) -> Latency:
        p50, p90, p99 = (f.opt_float(k) for k in ("p50", "p90", "p99"))
        return Latency(p50, p90, p99, f.opt_float("mean"), f.opt_float("min"), f.opt_float("max"))


@dataclass(frozen=True)
class BenchmarkView:
    """The benchmark stage's record (builder/timing/summary.py); ``data`` is the whole of it."""

    method: str | None
    batch: int | None
    latency_ms: Latency | None
    throughput_ips: float | None
    p50_spread: float | None
    load_per_cpu: float | None
    threads: int | None
    data: Mapping[str, Any]

    @staticmethod
    def of(f: _Fields) -> BenchmarkView:
        lat = f.opt_obj("latency_ms")
        latency = None if lat is None else Latency.of(lat)
        return BenchmarkView(
            method=f.opt_str("method"),
            batch=f.opt_int("batch"),
            latency_ms=latency,
            throughput_ips=f.opt_float("throughput_ips"),
            p50_spread=f.opt_float("p50_spread"),
            load_per_cpu=f.opt_float("load_per_cpu"),
            threads=f.opt_int("threads"),
            data=f.data,
        )


@dataclass(frozen=True)
class TensorStats:
    """One output compared with the FP32 reference (``verification.tensors.outputs.<name>``)."""

    max_abs: float | None
    max_rel: float | None
    atol: float | None
    rtol: float | None


@dataclass(frozen=True)
class VerificationView:
    """The verify stage's record; ``data`` is the whole of it (drift compares every numeric leaf)."""

    outputs: Mapping[str, TensorStats]
    agreements: tuple[float, ...]  # detections agreement per sample image
    data: Mapping[str, Any]

    @staticmethod
    def of(f: _Fields) -> VerificationView:
        outs = f.obj("tensors").obj("outputs")
        outputs = {}
        for name in outs.data:
            s = outs.obj(name)
            outputs[name] = TensorStats(s.opt_float("max_abs"), s.opt_float("max_rel"), s.opt_float("atol"),
                                        s.opt_float("rtol"))  # fmt: skip
        images = f.obj("detections").items("images")
        agreements = tuple(_Fields(item, where).opt_float("agreement") or 0.0 for where, item in images)
        return VerificationView(outputs, agreements, f.data)


@dataclass(frozen=True)
class MapScores:
    images: int | None
    map50_95: float | None
    map50: float | None
    top1: float | None = None  # classify (builder/yolo/tasks/common.py TaskResult.as_dict)
    top5: float | None = None

    @staticmethod
    def of(f: _Fields) -> MapScores:
        return MapScores(
            f.opt_int("images"),
            f.opt_float("map50_95"),
            f.opt_float("map50"),
            f.opt_float("top1"),
            f.opt_float("top5"),
        )

    def number(self, key: str) -> float | None:
        """The score named by the evaluate stage's key (``map50_95``, ``map50``, ``top1``, ``top5``)."""
        return {"map50_95": self.map50_95, "map50": self.map50, "top1": self.top1, "top5": self.top5}[key]


@dataclass(frozen=True)
class EvaluationView:
    """The evaluate stage's mAP gate (builder/pipeline/stages/evaluate.py)."""

    artifact: MapScores
    reference: MapScores
    map50_95_drop: float | None
    max_map_drop: float | None
    data_name: str | None
    split: str | None
    task: str = "detect"
    metric: str | None = None  # the gated metric's name (the task's validator metric, builder/yolo/tasks)

    @property
    def gated(self) -> tuple[str, str]:
        """``(key in artifact/reference, name)`` of the metric the gate judged: ``top1`` for classify, else
        ``map50_95`` (mask, pose or OBB mAP50-95 for those tasks), named by the stage's ``metric``."""
        return ("top1" if self.task == "classify" else "map50_95"), self.metric or "mAP50-95"

    @staticmethod
    def of(f: _Fields) -> EvaluationView:
        return EvaluationView(
            artifact=MapScores.of(f.obj("artifact")),
            reference=MapScores.of(f.obj("reference")),
            map50_95_drop=f.opt_float("map50_95_drop"),
            max_map_drop=f.obj("thresholds").opt_float("max_map_drop"),
            data_name=f.opt_str("data"),
            split=f.opt_str("split"),
            task=f.opt_str("task") or "detect",
            metric=f.opt_str("metric"),
        )


@dataclass(frozen=True)
class ExportView:
    """The export stage's ONNX facts."""

    opset: int | None
    ir_version: int | None

    @staticmethod
    def of(f: _Fields) -> ExportView:
        return ExportView(f.opt_int("opset"), f.opt_int("ir_version"))


@dataclass(frozen=True)
class ManifestView:
    """A manifest read back: validated once, every field a consumer reads typed. ``data`` is the parsed JSON."""

    schema_version: int
    builder_version: str
    build_id: str
    build_key: str
    status: str  # running | succeeded | failed
    created_at: str
    finished_at: str | None
    profile: ProfileView
    inputs: InputsView
    environment: EnvironmentView
    key_inputs: Mapping[str, Any]
    environment_id: str | None  # key_inputs.environment_id
    builder_source: str | None  # key_inputs.builder_source: the digest of the builder's own source
    launch: Mapping[str, Any]
    error: ErrorView | None
    stages: tuple[StageRecord, ...]
    artifacts: tuple[ArtifactRecord, ...]
    build_gpu: GpuView | None  # the GPU the build stage ran on (stages[build].details.gpu)
    verification: VerificationView | None
    benchmark: BenchmarkView | None
    evaluation: EvaluationView | None
    export: ExportView | None
    data: Mapping[str, Any]

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    @property
    def finished_or_created(self) -> str:
        return self.finished_at or self.created_at

    def stage(self, name: str) -> StageRecord | None:
        return next((s for s in self.stages if s.name == name), None)

    def artifact(self, kind: str) -> ArtifactRecord | None:
        """The first artifact of ``kind`` (``model``, ``metadata``, ``onnx`` ...), or None."""
        return next((a for a in self.artifacts if a.kind == kind), None)

    @property
    def model(self) -> ArtifactRecord | None:
        return self.artifact("model")


def _stage(where: str, item: Any) -> StageRecord:
    f = _Fields(item, where)
    return StageRecord(
        name=f.text("name"),
        status=f.text("status"),
        started_at=f.opt_str("started_at"),
        seconds=f.opt_float("seconds"),
        details=f.obj("details").data,
        error=f.opt_str("error"),
    )


def _artifact(where: str, item: Any) -> ArtifactRecord:
    f = _Fields(item, where)
    size = f.opt_int("size")
    if size is None:
        raise ManifestFieldError(f.field("size"), "missing")
    return ArtifactRecord(path=f.text("path"), kind=f.text("kind"), size=size, sha256=f.text("sha256"))


def _details(top: _Fields, stages: tuple[StageRecord, ...], key: str | None, stage: str) -> list[_Fields]:
    """A stage's details, each copy: the top-level one the writer keeps (``verification``, ``benchmark``) first,
    then the stage's own. Both are typed, so an edit to either is refused."""
    found = [top.obj(key)] if key is not None and top.data.get(key) else []
    index = next((i for i, s in enumerate(stages) if s.name == stage), None)
    if index is not None and stages[index].details:
        found.append(_Fields(stages[index].details, f"stages[{index}].details"))
    return found


def _build_gpu(stages: tuple[StageRecord, ...]) -> GpuView | None:
    for index, stage in enumerate(stages):
        if stage.name == "build" and stage.details.get("gpu") is not None:
            return GpuView.of(_Fields(stage.details["gpu"], f"stages[{index}].details.gpu"))
    return None


def _optional(view: Callable[[_Fields], _V], copies: list[_Fields]) -> _V | None:
    """The view of the first copy, after every copy was typed."""
    views = [view(fields) for fields in copies]
    return views[0] if views else None


def _typed_view(data: Any) -> ManifestView:
    """The typed view of a parsed manifest that :func:`builder.record.manifest.manifest_problems` accepts.

    Raises:
        ManifestFieldError: a field a view reads is missing or of the wrong type (dotted path in ``field``).
    """
    f = _Fields(data, "")
    stages = tuple(_stage(where, item) for where, item in f.items("stages"))
    return ManifestView(
        schema_version=int(f.opt_int("schema_version") or 0),
        builder_version=f.text("builder_version"),
        build_id=f.text("build_id"),
        build_key=f.text("build_key"),
        status=f.text("status"),
        created_at=f.text("created_at"),
        finished_at=f.opt_str("finished_at"),
        profile=ProfileView.of(f.obj("profile")),
        inputs=InputsView.of(f.obj("inputs")),
        environment=EnvironmentView.of(f.obj("environment")),
        key_inputs=f.obj("key_inputs").data,
        environment_id=f.obj("key_inputs").opt_str("environment_id"),
        builder_source=f.obj("key_inputs").opt_str("builder_source"),
        launch=f.obj("launch").data,
        error=ErrorView.of(f.opt_obj("error")),
        stages=stages,
        artifacts=tuple(_artifact(where, item) for where, item in f.items("artifacts")),
        build_gpu=_build_gpu(stages),
        verification=_optional(VerificationView.of, _details(f, stages, "verification", "verify")),
        benchmark=_optional(BenchmarkView.of, _details(f, stages, "benchmark", "benchmark")),
        evaluation=_optional(EvaluationView.of, _details(f, stages, None, "evaluate")),
        export=_optional(ExportView.of, _details(f, stages, None, "export")),
        data=f.data,
    )


def read_manifest(source: Path | bytes | Mapping[str, Any], *, where: str | None = None) -> ManifestView:
    """Read a manifest, validated once, as typed objects: the one way any module reads a manifest.

    Args:
        source: the manifest file, its bytes (from a bundle or a farm node), or its parsed JSON.
        where: how errors name the manifest (default: the path, else ``manifest``).

    Raises:
        ArtifactError: (NO-GO, exit 5) missing or unreadable; JSON our records cannot hold (NaN, a huge number, a
            duplicate key, too deep …); from a newer schema; a field missing or of the wrong type. The message
            names the field.
    """
    if isinstance(source, Path):
        data: Any = load_manifest(source)
        where = where or str(source)
    else:
        where = where or "manifest"
        if isinstance(source, bytes):
            try:
                data = loads(source)
            except JsonContentError as err:
                raise ArtifactError(f"{where}: manifest field {err}", hint=_HINT) from None
            except ValueError as err:
                raise ArtifactError(
                    f"{where}: not a readable JSON manifest ({err})",
                    hint="the file is damaged; rebuild or re-copy the artifact",
                ) from None
        else:  # parsed already (in memory): the schema and the views still check it
            data = dict(source)
        data = checked_manifest(data, where)
    try:
        return _typed_view(data)
    except ManifestFieldError as err:
        raise ArtifactError(f"{where}: manifest field {err}", hint=_HINT) from None


def view_or_none(source: Path) -> ManifestView | None:
    """:func:`read_manifest`, or None where the file is missing or not a manifest this builder reads (for scans
    of build folders, where an unreadable folder is skipped, not fatal)."""
    try:
        return read_manifest(source)
    except ArtifactError:
        return None

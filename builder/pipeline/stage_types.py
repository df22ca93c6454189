"""What every pipeline stage takes and returns, and the typed facts stages hand on.

Shared by ``builder.pipeline.stages`` and ``builder.backends`` (backends never import stages), and dependency-free.
A stage's ``details`` are for the manifest only; later stages read the typed ``output`` of earlier ones
(:class:`ExportResult`, :class:`BuildResult`) through :meth:`StageContext.handed`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from builder.profile import Profile
from builder.record.layout import ArtifactLayout
from builder.record.manifest import Manifest

T = TypeVar("T")


class StageStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    OK = "ok"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ArtifactOut:
    """A file a stage produced, relative to the build folder."""

    path: str  # relative to StageContext.workdir, e.g. "model.onnx"
    kind: str  # "onnx", "model" (the deployable file), "ultralytics-engine", "layers", "metadata", ...


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output at the profile's image size."""

    name: str
    shape: tuple[int, ...]  # -1 marks a dynamic batch
    dtype: str  # numpy dtype name, e.g. "float32"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class ExportResult:
    """What the export stage hands to later stages."""

    onnx: ArtifactOut
    input: TensorSpec  # shape (batch, 3, H, W): builder.yolo.shapes.input_shape
    outputs: tuple[TensorSpec, ...]
    names: tuple[str, ...]  # class names; index = class id
    stride: int
    task: str  # "detect", "segment", ...
    nms: str = "external"  # outputs.nms: external (raw head out) | embedded | end2end (final detections out)
    head: str | None = None  # embedded / end2end: the raw head tensor inside the graph (the verify reference's)


class BackendHost(Protocol):
    """What a backend's ``check_available`` found here (versions, GPU, target match), once per build."""

    def facts(self) -> dict[str, Any]:
        """JSON-able, for the manifest."""


@dataclass(frozen=True)
class BuildResult:
    """What the build stage hands to later stages."""

    model: ArtifactOut  # the deployable file
    input_name: str
    host: BackendHost


@dataclass(frozen=True)
class StageResult:
    """One stage's outcome.

    Args:
        details: JSON-able facts for the manifest (never read by other stages).
        artifacts: files the stage wrote into the build folder.
        status: ``ok`` or ``skipped``.
        inputs: build inputs the stage produced (the ONNX hash, calibration data), merged into the manifest's inputs.
        output: the typed hand-off later stages read (:class:`ExportResult`, :class:`BuildResult`, ...).
        published: the final build folder, set by the stage that moved the build into place (publish); that
            stage has written the finished manifest, and the pipeline records nothing after it.
    """

    details: Mapping[str, Any] = field(default_factory=dict)
    artifacts: tuple[ArtifactOut, ...] = ()
    status: StageStatus = StageStatus.OK
    inputs: Mapping[str, Any] = field(default_factory=dict)
    output: object = None
    published: Path | None = None

    def artifact(self, kind: str) -> ArtifactOut:
        for art in self.artifacts:
            if art.kind == kind:
                return art
        raise KeyError(kind)


@dataclass(frozen=True)
class StageContext:
    """Everything a stage may use.

    Args:
        profile: the resolved profile.
        workdir: the staging build folder; files here are published.
        scratch: a private temporary folder, removed after the build.
        models_dir: where checkpoints and calibration data live (read-only).
        cache_dir: persistent cache folder (timing and calibration caches), or None.
        log: prints one progress line.
        prior: results of the stages that already ran, by stage name.
        host: the backend's facts, found once before the first stage (None when a stage runs on its own).
        manifest: the build's record so far, this stage running (None when a stage runs on its own).
        layout: the profile's artifacts folder (None when a stage runs on its own).
    """

    profile: Profile
    workdir: Path
    scratch: Path
    models_dir: Path
    cache_dir: Path | None
    log: Callable[[str], None]
    prior: Mapping[str, StageResult] = field(default_factory=dict)
    host: BackendHost | None = None
    manifest: Manifest | None = None
    layout: ArtifactLayout | None = None

    def path(self, art: ArtifactOut) -> Path:
        return self.workdir / art.path

    def handed(self, kind: type[T]) -> T | None:
        """The typed output of the latest earlier stage that handed on a ``kind``, or None."""
        for result in reversed(list(self.prior.values())):
            if isinstance(result.output, kind):
                return result.output
        return None


class Stage(Protocol):
    """A pipeline stage: a module or object with ``NAME`` and ``run`` (see builder/pipeline/stages/,
    docs/dev/architecture.md).

    A stage may also define ``preflight(profile, gpus) -> BackendHost | None``: run before the first stage, it
    refuses at once what the stage would refuse later (a failure is recorded under the stage's name).
    """

    NAME: str

    def run(self, ctx: StageContext) -> StageResult:
        """Do the stage's work in ``ctx.workdir``; raise a ``BuilderError`` for a user-facing failure."""

"""What every pipeline stage takes and returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from builder.profile import Profile


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
class StageResult:
    details: Mapping[str, Any] = field(default_factory=dict)  # JSON-able
    artifacts: tuple[ArtifactOut, ...] = ()
    status: StageStatus = StageStatus.OK

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
    """

    profile: Profile
    workdir: Path
    scratch: Path
    models_dir: Path
    cache_dir: Path | None
    log: Callable[[str], None]
    prior: Mapping[str, StageResult] = field(default_factory=dict)

    def path(self, art: ArtifactOut) -> Path:
        return self.workdir / art.path

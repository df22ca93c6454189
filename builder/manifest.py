"""The build manifest: frozen records, atomic JSON writes, schema checks.

The manifest is rewritten after every stage, so a crashed or failed build
still tells which stage it reached.  Schema: builder/schemas/manifest.schema.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from builder import __version__
from builder.atomic import atomic_output
from builder.errors import ArtifactError
from builder.safe_io import FileReadError, read_json

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schemas" / "manifest.schema.json"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class StageRecord:
    name: str
    status: str  # builder.stage_types.StageStatus values
    started_at: str | None = None
    seconds: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class ArtifactRecord:
    path: str
    kind: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    build_id: str
    build_key: str
    profile: Mapping[str, Any]  # name, source, sha256, resolved
    inputs: Mapping[str, Any]
    environment: Mapping[str, Any]
    launch: Mapping[str, Any] = field(default_factory=dict)
    key_inputs: Mapping[str, Any] = field(default_factory=dict)
    status: str = "running"  # running | succeeded | failed
    stages: tuple[StageRecord, ...] = ()
    artifacts: tuple[ArtifactRecord, ...] = ()
    created_at: str = field(default_factory=utc_now)
    finished_at: str | None = None
    error: Mapping[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION
    builder_version: str = __version__

    def with_stage(self, record: StageRecord) -> Manifest:
        """Replace the record of the same name, or append it."""
        stages = [s for s in self.stages if s.name != record.name]
        index = next((i for i, s in enumerate(self.stages) if s.name == record.name), len(stages))
        stages.insert(index, record)
        return replace(self, stages=tuple(stages))

    def stage(self, name: str) -> StageRecord | None:
        return next((s for s in self.stages if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        verify, benchmark = self.stage("verify"), self.stage("benchmark")
        data["verification"] = dict(verify.details) if verify else None
        data["benchmark"] = dict(benchmark.details) if benchmark else None
        return data

    def write_atomic(self, path: Path) -> None:
        write_json_atomic(path, self.to_dict())


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON atomically (see builder/atomic.py)."""
    with atomic_output(path, "w") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")


def load_manifest(path: Path) -> dict[str, Any]:
    """Read and schema-check a manifest.

    Raises:
        ArtifactError: missing, not JSON, from a newer schema, or not matching the schema.
    """
    try:
        data = read_json(path, what="manifest")
    except FileReadError as err:
        raise ArtifactError(
            f"{path}: {err.problem}", hint="the build folder was tampered with; rebuild or re-copy the artifact"
        ) from None
    except FileNotFoundError:
        raise ArtifactError(
            f"{path}: manifest missing", hint="point at a build folder that holds manifest.json"
        ) from None
    except (OSError, ValueError) as err:
        raise ArtifactError(
            f"{path}: not a readable JSON manifest ({err})", hint="the file is damaged; rebuild or re-copy the artifact"
        ) from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: manifest is not a JSON object", hint="rebuild or re-copy the artifact")
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise ArtifactError(
            f"{path}: manifest schema version {version} is newer than this builder reads ({SCHEMA_VERSION})",
            hint=f"upgrade Engine Foundry (this is {__version__}) to read it",
        )
    problems = schema_problems(data)
    if problems:
        raise ArtifactError(
            f"{path}: manifest does not match its schema: {problems[0]}", hint="rebuild or re-copy the artifact"
        )
    return data


def schema_problems(data: Mapping[str, Any]) -> list[str]:
    """Schema violations (needs jsonschema; without it only the required keys are checked)."""
    schema = json.loads(SCHEMA_PATH.read_text())
    try:
        import jsonschema
    except ImportError:
        return [f"missing key {k!r}" for k in schema["required"] if k not in data]
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in validator.iter_errors(data)]

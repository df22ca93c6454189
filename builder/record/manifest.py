"""The build manifest: frozen records, atomic JSON writes, schema checks.

The manifest is rewritten after every stage, so a crashed or failed build
still tells which stage it reached.  Schema: builder/record/schemas/manifest.schema.json.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from builder import __version__
from builder.common.atomic import atomic_output
from builder.common.safe_io import FileReadError, read_json
from builder.common.strict_json import JsonContentError
from builder.errors import ArtifactError
from builder.profile.resolved import resolved_problems
from builder.record.json_schema import schema_errors

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).parent / "schemas" / "manifest.schema.json"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class StageRecord:
    name: str
    status: str  # builder.pipeline.stage_types.StageStatus values
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
    """Write JSON atomically (see builder/common/atomic.py)."""
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
    except JsonContentError as err:
        raise ArtifactError(
            f"{path}: manifest field {err}",
            hint="the manifest was edited or written by another tool; rebuild or re-copy the artifact",
        ) from None
    except (OSError, ValueError) as err:
        raise ArtifactError(
            f"{path}: not a readable JSON manifest ({err})", hint="the file is damaged; rebuild or re-copy the artifact"
        ) from None
    return checked_manifest(data, str(path))


def checked_manifest(data: Any, where: str) -> dict[str, Any]:
    """``data`` (parsed JSON) when it is a manifest this builder reads and trusts (:func:`manifest_problems`).

    Raises:
        ArtifactError: not an object, from a newer schema, or not matching the schema (the first field named).
    """
    if not isinstance(data, dict):
        raise ArtifactError(f"{where}: manifest is not a JSON object", hint="rebuild or re-copy the artifact")
    version = data.get("schema_version")
    if isinstance(version, int) and version > SCHEMA_VERSION:
        raise ArtifactError(
            f"{where}: manifest schema version {version} is newer than this builder reads ({SCHEMA_VERSION})",
            hint=f"upgrade Engine Foundry (this is {__version__}) to read it",
        )
    problems = manifest_problems(data)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise ArtifactError(
            f"{where}: manifest field {problems[0]}{more}",
            hint="the manifest was edited or written by another tool; rebuild or re-copy the artifact",
        )
    return data


def manifest_problems(data: Any) -> list[str]:
    """Why ``data`` is not a manifest this builder can trust, one ``<field>: <what>`` line per problem.

    The schema (types, ranges, artifact paths inside the folder), then the resolved profile through the same
    validation a profile file gets (:func:`builder.profile.resolved.resolved_problems`), then consistency: a
    succeeded build has no failed or unfinished stage and no error, and lists each artifact path once.
    """
    problems = schema_errors(data, json.loads(SCHEMA_PATH.read_text()))
    if problems:
        return problems
    problems = resolved_problems(data["profile"]["resolved"])
    if data["status"] == "succeeded":
        problems += [
            f"stages[{i}].status: {s['status']!r} in a build whose status is 'succeeded'"
            for i, s in enumerate(data["stages"])
            if s["status"] not in ("ok", "skipped")
        ]
        if data.get("error") is not None:
            problems.append("error: set in a build whose status is 'succeeded'")
    paths = [artifact["path"] for artifact in data["artifacts"]]
    problems += [f"artifacts: {path!r} is listed twice" for path in sorted(set(paths)) if paths.count(path) > 1]
    return problems

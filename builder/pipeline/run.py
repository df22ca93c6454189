"""Run the stages of one build, record each in the manifest, and leave a failed build's record under failed/.

The stages are data: ``run_build`` runs ``builder.pipeline.stages.PIPELINE`` unless given another sequence of stages
(see :class:`builder.pipeline.stage_types.Stage`); the last one publishes. Container side: never imports ``docker``.
See docs/dev/architecture.md.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from builder.common.interrupts import Interrupted, deferred, on_abort
from builder.common.locking import profile_lock
from builder.errors import BuilderError, ExitCode, HostEnvironmentError
from builder.machine import gpu as gpu_discovery
from builder.machine.environment import capture_environment
from builder.machine.gpu import GpuProbe
from builder.pipeline.interrupted_build import build_cleanup
from builder.pipeline.stage_types import BackendHost, Stage, StageContext, StageResult, StageStatus
from builder.pipeline.stages import PIPELINE, STAGE_NAMES
from builder.profile import Profile
from builder.record.buildkey import BuildKey, build_key_for
from builder.record.layout import MANIFEST_NAME, ArtifactLayout, new_build_id
from builder.record.manifest import Manifest, StageRecord, utc_now
from builder.record.weights import UNTRAINED_CHECKS

__all__ = ["PIPELINE", "STAGE_NAMES", "BuildOutcome", "BuildSettings", "Interrupted", "run_build"]

BUG_HINT = "this is a bug in Engine Foundry; please report it with the traceback and this manifest"


@dataclass(frozen=True)
class BuildSettings:
    artifacts: Path
    models: Path
    cache_dir: Path | None = None
    image_id: str | None = None
    force: bool = False
    wait: bool = False
    argv: tuple[str, ...] = ()
    log: Callable[[str], None] = print


@dataclass(frozen=True)
class BuildOutcome:
    up_to_date: bool
    build_dir: Path
    build_key: str


def run_build(profile: Profile, settings: BuildSettings, pipeline: Sequence[Stage] = PIPELINE) -> BuildOutcome:
    """Build ``profile`` through ``pipeline`` unless a good build with the same key exists (or ``force``).

    Raises:
        BuilderError: a user-facing failure; the failed build's manifest lies under ``failed/``.
        Exception: any other exception of a stage (a bug), unchanged, after the failed manifest is written.
    """
    names = [stage.NAME for stage in pipeline]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"a pipeline needs at least one stage and unique stage names, got {names}")
    gpus = gpu_discovery.probe_gpus()  # once per build: the key, the environment and the backend's checks all use it
    key = build_key_for(profile, settings.models, settings.image_id, lambda: gpus.gpus)
    layout = ArtifactLayout(settings.artifacts, profile.name)
    layout.check_tree()  # shape and permissions, before any stage runs
    with profile_lock(layout.lock_path, wait=settings.wait):
        with deferred():  # SIGINT/SIGTERM wait: never half a leftover
            cleanup = layout.remove_stale_staging()
        for stale in cleanup.removed:
            settings.log(f"removed the leftovers of an interrupted build: .staging/{stale}")
        for stale, reason in cleanup.failed:
            settings.log(
                f"WARNING could not remove the leftovers of an interrupted build: .staging/{stale} ({reason}); "
                "remove it by hand"
            )
        existing = layout.find_build_with_key(key.key)
        if existing is not None and not settings.force:
            moved = ""
            latest = layout.latest_dir()
            if latest != existing.resolve():
                with deferred():  # never a stray .latest-* link
                    layout.point_latest_at(existing.name)
                moved = f"; latest moved back from {latest.name if latest else 'nothing'}, another build key"
            settings.log(f"up to date: {existing} (build key {key.key[:12]}{moved})")
            return BuildOutcome(True, existing, key.key)
        build_id = new_build_id(key.key)
        with on_abort(build_cleanup(layout, build_id)):  # SIGINT/SIGTERM: builder/common/interrupts.py
            return _staged_build(profile, settings, pipeline, layout, build_id, key, gpus)


def _staged_build(
    profile: Profile,
    settings: BuildSettings,
    pipeline: Sequence[Stage],
    layout: ArtifactLayout,
    build_id: str,
    key: BuildKey,
    gpus: GpuProbe,
) -> BuildOutcome:
    """Run the stages of a new build in its staging folder; publish it, or record it under failed/."""
    names = [stage.NAME for stage in pipeline]
    staging = layout.staging_dir(build_id)
    staging.mkdir(parents=True)
    manifest = Manifest(
        build_id=build_id,
        build_key=key.key,
        key_inputs=key.inputs,
        profile={
            "name": profile.name,
            "source": profile.source,
            "sha256": profile.sha256(),
            "resolved": profile.to_dict(),
        },
        inputs={"weights": key.weights.record()},
        environment=capture_environment(settings.image_id, gpus=gpus.gpus),
        launch={"argv": list(settings.argv), "force": settings.force},
        stages=tuple(StageRecord(name, StageStatus.PENDING.value) for name in names),
    )
    manifest.write_atomic(staging / MANIFEST_NAME)
    if key.weights.untrained:
        moot = "; ".join(UNTRAINED_CHECKS.values())
        settings.log(f"NOTE {key.weights.identity} is untrained (random weights): not meaningful for it: {moot}")
    scratch = Path(tempfile.mkdtemp(prefix=f"{build_id}.", dir=layout.staging_root))
    try:
        run = _Run(profile, settings, layout, staging, scratch)
        final = run.stages(pipeline, manifest, run.preflight(pipeline, manifest, gpus))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    settings.log(f"published {final}")
    return BuildOutcome(False, final, key.key)


@dataclass(frozen=True)
class _Run:
    """One build in progress: where it stages, and how it records a failure."""

    profile: Profile
    settings: BuildSettings
    layout: ArtifactLayout
    staging: Path
    scratch: Path

    def preflight(self, pipeline: Sequence[Stage], manifest: Manifest, gpus: GpuProbe) -> BackendHost | None:
        """Run each stage's ``preflight`` before the first stage: refuse at once what a stage would refuse later."""
        host = None
        for stage in pipeline:
            check = getattr(stage, "preflight", None)
            if check is None:
                continue
            started, t0 = utc_now(), time.monotonic()
            try:
                host = check(self.profile, gpus) or host
            except BaseException as exc:
                self.fail(manifest, stage.NAME, started, t0, exc, {"preflight": True})
                self.settings.log(f"[{stage.NAME}] FAILED before the first stage ran: this build cannot run here")
                error = _as_user_error(exc, stage.NAME)
                if error is None or error is exc:
                    raise
                raise error from exc
        return host

    def stages(self, pipeline: Sequence[Stage], manifest: Manifest, host: BackendHost | None) -> Path:
        """Run the stages in order, recording each; return the folder the publishing stage moved the build to."""
        prior: dict[str, StageResult] = {}
        settings = self.settings
        for stage in pipeline:
            name = stage.NAME
            started, t0 = utc_now(), time.monotonic()
            manifest = manifest.with_stage(StageRecord(name, StageStatus.RUNNING.value, started))
            manifest.write_atomic(self.staging / MANIFEST_NAME)
            settings.log(f"[{name}] started")
            ctx = StageContext(
                self.profile,
                self.staging,
                self.scratch,
                settings.models,
                settings.cache_dir,
                settings.log,
                dict(prior),
                host=host,
                manifest=manifest,
                layout=self.layout,
            )
            try:
                result = stage.run(ctx)
            except BaseException as exc:  # record every failure, then re-raise it
                details = getattr(exc, "details", None)  # e.g. the verification report of a failed verify
                self.fail(manifest, name, started, t0, exc, details if isinstance(details, dict) else {})
                settings.log(f"[{name}] FAILED after {time.monotonic() - t0:.1f}s")
                error = _as_user_error(exc, name)
                if error is None or error is exc:
                    raise  # a user error as raised, or a bug unchanged (the CLI prints its traceback, exit 70)
                raise error from exc
            if result.published is not None:
                return result.published
            prior[name] = result
            seconds = time.monotonic() - t0
            details = {**result.details, "artifacts": [{"path": a.path, "kind": a.kind} for a in result.artifacts]}
            manifest = manifest.with_stage(StageRecord(name, result.status.value, started, seconds, details))
            if result.inputs:
                manifest = replace(manifest, inputs={**manifest.inputs, **result.inputs})
            manifest.write_atomic(self.staging / MANIFEST_NAME)
            settings.log(f"[{name}] {result.status.value} in {seconds:.1f}s")
        raise ValueError(
            f"no stage of the pipeline {[s.NAME for s in pipeline]} published the build (end it with publish)"
        )

    def fail(
        self, manifest: Manifest, stage: str, started: str, t0: float, exc: BaseException, details: dict[str, Any]
    ) -> None:
        """Record ``stage`` failed with ``exc`` (a user error or a bug) and move the build under failed/."""
        error = _as_user_error(exc, stage)
        if error is None:
            message = f"{stage}: internal error: {type(exc).__name__}: {exc}"
            summary = {
                "stage": stage,
                "message": message,
                "hint": BUG_HINT,
                "exit_code": int(ExitCode.BUG),
                "internal": True,
                "exception": type(exc).__name__,
            }
        else:
            message = error.message
            summary = {"stage": stage, "message": message, "hint": error.hint, "exit_code": int(error.exit_code)}
        record = StageRecord(stage, StageStatus.FAILED.value, started, time.monotonic() - t0, details, message)
        _fail(manifest.with_stage(record), self.staging, self.layout, summary)


def _fail(manifest: Manifest, staging: Path, layout: ArtifactLayout, error: dict[str, Any]) -> None:
    """Mark the build failed and move it out of staging, never into builds/."""
    if not staging.is_dir():  # it left staging: published (builds/<id> is whole) or already recorded
        return
    failed = replace(manifest, status="failed", finished_at=utc_now(), error=error)
    with deferred():  # a signal now waits until the record is in failed/
        _move_to_failed(failed, staging, layout)


def _move_to_failed(failed: Manifest, staging: Path, layout: ArtifactLayout) -> None:
    try:
        failed.write_atomic(staging / MANIFEST_NAME)
        layout.failed_dir.mkdir(parents=True, exist_ok=True)
        target = layout.failed_dir / staging.name
        os.rename(staging, target)
        for path in target.iterdir():  # keep only the record, not half-made artifacts
            if path.name != MANIFEST_NAME:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)  # e.g. a full disk: at least leave nothing partial


DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def _disk_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (itself, its cause or context) when it says the disk or file size limit is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in DISK_FULL:
            return current
        current = current.__cause__ or current.__context__
    return None


def _as_user_error(exc: BaseException, stage: str) -> BuilderError | None:
    """The user-facing error ``exc`` stands for (a BuilderError, a full disk, no permission, an interrupt);
    None when it is a bug."""
    disk = _disk_error(exc)
    if disk is not None:  # even when a stage wrapped it: a full disk is not the stage's fault
        return HostEnvironmentError(
            f"{stage}: no space left on device ({disk.filename or 'artifacts folder'}: {disk.strerror})",
            hint="free disk space in the artifacts folder (remove old builds under builds/) and run again",
        )
    if isinstance(exc, BuilderError):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return Interrupted(f"{stage}: interrupted", hint="nothing was published; run the build again")
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return HostEnvironmentError(
            f"{stage}: cannot write {exc.filename}: {exc.strerror}",
            hint="make the artifacts folder writable by this user",
        )
    return None

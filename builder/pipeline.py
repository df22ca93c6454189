"""Run the stages of one build, record each in the manifest, publish atomically.

Container side: never imports ``docker``.  See docs/architecture.md.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, Callable, NoReturn

from builder.atomic import write_text_atomic
from builder.buildkey import build_key_inputs, compute_build_key
from builder.environment import capture_environment, environment_identity
from builder.errors import BuilderError, ExitCode, HostEnvironmentError, StageError
from builder.hashing import SUMS_NAME, format_sums, sha256_file
from builder.layout import MANIFEST_NAME, ArtifactLayout, new_build_id
from builder.locking import profile_lock
from builder.manifest import ArtifactRecord, Manifest, StageRecord, utc_now
from builder.profile import Backend, Profile
from builder.stages.base import StageContext, StageResult, StageStatus
from builder.weights import weights_fingerprint

STAGE_NAMES = ("export", "build", "verify", "benchmark", "publish")


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


class Interrupted(BuilderError):
    exit_code = ExitCode.INTERRUPTED


def _stage_modules() -> list[Any]:
    from builder.stages import benchmark_model, build_model, export_onnx, verify_model

    return [export_onnx, build_model, verify_model, benchmark_model]


def build_key_for(profile: Profile, models: Path, image_id: str | None) -> tuple[str, dict[str, Any], Any]:
    """The build key, its inputs and the weights fingerprint, as the host would compute them."""
    weights = weights_fingerprint(profile.model, models)
    gpu = ""
    if profile.backend is Backend.TENSORRT:
        from builder.gpu import gpu_identity, list_gpus

        gpu = gpu_identity(list_gpus())
    env_id = environment_identity(image_id)
    return compute_build_key(profile, weights, env_id, gpu), build_key_inputs(profile, weights, env_id, gpu), weights


def run_build(profile: Profile, settings: BuildSettings) -> BuildOutcome:
    """Build ``profile`` unless a good build with the same key exists (or ``force``).

    Raises:
        BuilderError: a user-facing failure; the failed build's manifest lies under ``failed/``.
    """
    key, key_inputs, weights = build_key_for(profile, settings.models, settings.image_id)
    layout = ArtifactLayout(settings.artifacts, profile.name)
    _ensure_writable(layout)
    with profile_lock(layout.lock_path, wait=settings.wait):
        cleanup = layout.remove_stale_staging()
        for stale in cleanup.removed:
            settings.log(f"removed the leftovers of an interrupted build: .staging/{stale}")
        for stale, reason in cleanup.failed:
            settings.log(f"WARNING could not remove the leftovers of an interrupted build: .staging/{stale} ({reason}); remove it by hand")
        existing = layout.find_build_with_key(key)
        if existing is not None and not settings.force:
            if layout.latest_dir() != existing.resolve():
                layout.point_latest_at(existing.name)
            settings.log(f"up to date: {existing} (build key {key[:12]})")
            return BuildOutcome(True, existing, key)
        build_id = new_build_id(key)
        staging = layout.staging_dir(build_id)
        staging.mkdir(parents=True)
        manifest = Manifest(
            build_id=build_id,
            build_key=key,
            key_inputs=key_inputs,
            profile={"name": profile.name, "source": profile.source, "sha256": profile.sha256(), "resolved": profile.to_dict()},
            inputs={"weights": {"identity": weights.identity, "sha256": weights.sha256}},
            environment=capture_environment(settings.image_id),
            launch={"argv": list(settings.argv), "force": settings.force},
            stages=tuple(StageRecord(name, StageStatus.PENDING.value) for name in STAGE_NAMES),
        )
        manifest.write_atomic(staging / MANIFEST_NAME)
        with _sigterm_as_interrupt(), tempfile.TemporaryDirectory(prefix=f"{build_id}.", dir=layout.staging_root) as scratch:
            manifest = _run_stages(profile, settings, manifest, staging, Path(scratch))
        final = layout.build_dir(build_id)
        _publish(manifest, staging, final, layout)
        settings.log(f"published {final}")
        return BuildOutcome(False, final, key)


def _preflight(profile: Profile, settings: BuildSettings, manifest: Manifest, staging: Path) -> None:
    """Refuse at once what the build stage would refuse after the export (no TensorRT, no GPU, the wrong GPU)."""
    from builder.backends.registry import get_backend

    started, t0 = utc_now(), time.monotonic()
    try:
        get_backend(profile.backend.value).check_available(profile)
    except BuilderError as error:
        record = StageRecord("build", StageStatus.FAILED.value, started, time.monotonic() - t0, {"preflight": True}, error.message)
        _fail(manifest.with_stage(record), staging, ArtifactLayout(settings.artifacts, profile.name), error, "build")
        settings.log("[build] FAILED before the export: the backend cannot build this profile here")
        raise


def _run_stages(profile: Profile, settings: BuildSettings, manifest: Manifest, staging: Path, scratch: Path) -> Manifest:
    _preflight(profile, settings, manifest, staging)
    prior: dict[str, StageResult] = {}
    for module in _stage_modules():
        name = module.NAME
        started, t0 = utc_now(), time.monotonic()
        manifest = manifest.with_stage(StageRecord(name, StageStatus.RUNNING.value, started))
        manifest.write_atomic(staging / MANIFEST_NAME)
        settings.log(f"[{name}] started")
        ctx = StageContext(profile, staging, scratch, settings.models, settings.cache_dir, settings.log, dict(prior))
        try:
            result = module.run(ctx)
        except BaseException as exc:  # record every failure, then re-raise it
            error = _as_builder_error(exc, name)
            details = getattr(exc, "details", None)  # e.g. the verification report of a failed verify
            record = StageRecord(
                name, StageStatus.FAILED.value, started, time.monotonic() - t0,
                details=details if isinstance(details, dict) else {}, error=error.message,
            )
            _fail(manifest.with_stage(record), staging, ArtifactLayout(settings.artifacts, profile.name), error, name)
            settings.log(f"[{name}] FAILED after {time.monotonic() - t0:.1f}s")
            if error is exc:
                raise
            raise error from exc
        prior[name] = result
        seconds = time.monotonic() - t0
        details = {**result.details, "artifacts": [{"path": a.path, "kind": a.kind} for a in result.artifacts]}
        manifest = manifest.with_stage(StageRecord(name, result.status.value, started, seconds, details))
        manifest = _merge_inputs(manifest, name, result, staging)
        manifest.write_atomic(staging / MANIFEST_NAME)
        settings.log(f"[{name}] {result.status.value} in {seconds:.1f}s")
    return manifest


def _merge_inputs(manifest: Manifest, stage: str, result: StageResult, staging: Path) -> Manifest:
    """Record the hashes of inputs that stages produce (the ONNX, calibration data)."""
    inputs = dict(manifest.inputs)
    if stage == "export":
        onnx = staging / result.artifact("onnx").path
        inputs["onnx"] = {"path": result.artifact("onnx").path, "sha256": sha256_file(onnx)}
    calibration = result.details.get("calibration") if isinstance(result.details, dict) else None
    if calibration:
        inputs["calibration"] = calibration
    return replace(manifest, inputs=inputs)


def _publish(manifest: Manifest, staging: Path, final: Path, layout: ArtifactLayout) -> None:
    """Hash every file, finish the manifest, write SHA256SUMS, rename into place, repoint latest."""
    started, t0 = utc_now(), time.monotonic()
    try:
        kinds = _artifact_kinds(manifest)
        records = []
        for path in sorted(p for p in staging.rglob("*") if p.is_file()):
            rel = path.relative_to(staging).as_posix()
            if rel in (MANIFEST_NAME, SUMS_NAME):
                continue
            records.append(ArtifactRecord(rel, kinds.get(rel, "other"), path.stat().st_size, sha256_file(path)))
        details = {"build_dir": f"builds/{manifest.build_id}", "files": len(records) + 2}
        manifest = replace(manifest, artifacts=tuple(records), status="succeeded", finished_at=utc_now())
        manifest = manifest.with_stage(StageRecord("publish", "ok", started, time.monotonic() - t0, details))
        manifest.write_atomic(staging / MANIFEST_NAME)
        entries = [(r.path, r.sha256) for r in records] + [(MANIFEST_NAME, sha256_file(staging / MANIFEST_NAME))]
        write_text_atomic(staging / SUMS_NAME, format_sums(entries))
        _fsync_tree(staging)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, final)
        layout.point_latest_at(manifest.build_id)
    except OSError as err:
        error = _as_builder_error(err, "publish")
        record = StageRecord("publish", "failed", started, time.monotonic() - t0, error=error.message)
        _fail(manifest.with_stage(record), staging, layout, error, "publish")
        raise error from err


def _artifact_kinds(manifest: Manifest) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for stage in manifest.stages:
        for art in stage.details.get("artifacts", []) if isinstance(stage.details, dict) else []:
            kinds[art["path"]] = art["kind"]
    return kinds


def _fail(manifest: Manifest, staging: Path, layout: ArtifactLayout, error: BuilderError, stage: str) -> None:
    """Mark the build failed and move it out of staging, never into builds/."""
    failed = replace(
        manifest,
        status="failed",
        finished_at=utc_now(),
        error={"stage": stage, "message": error.message, "hint": error.hint, "exit_code": int(error.exit_code)},
    )
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


def _as_builder_error(exc: BaseException, stage: str) -> BuilderError:
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
    return StageError(stage, f"unexpected {type(exc).__name__}: {exc}", hint="this is a bug in Engine Foundry; please report it with the manifest")


def _ensure_writable(layout: ArtifactLayout) -> None:
    try:
        layout.staging_root.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=layout.profile_dir, prefix=".probe-")
        probe.close()
    except OSError as err:
        raise HostEnvironmentError(
            f"artifacts folder {layout.root} is not writable ({err.strerror})",
            hint=f"choose a writable folder with --artifacts, or fix its permissions (chown {os.getuid()}:{os.getgid()})",
        ) from None


def _fsync_tree(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _sigterm_as_interrupt:
    """Turn SIGTERM (``docker stop``) into KeyboardInterrupt so cleanup runs."""

    def __enter__(self) -> None:
        self._old: Any = None
        try:
            self._old = signal.signal(signal.SIGTERM, self._raise)
        except ValueError:  # not in the main thread
            self._old = None

    def __exit__(self, *exc: object) -> None:
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)

    @staticmethod
    def _raise(signum: int, frame: FrameType | None) -> NoReturn:
        raise KeyboardInterrupt

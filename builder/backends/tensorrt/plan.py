"""The TensorRT plan: ``engine_from_onnx`` builds ``model.plan``, from checks to files and manifest details."""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.backends.tensorrt import calibration, engine_files, explicit, trt_calls
from builder.backends.tensorrt.errors import LogRecorder
from builder.backends.tensorrt.host import TrtHost, tensorrt_host
from builder.backends.tensorrt.onnx_facts import OnnxFacts, check_onnx_opset, onnx_facts, single_input
from builder.backends.tensorrt.settings import CalibrationSettings, build_settings_from_profile, check_onnx_input
from builder.backends.tensorrt.timing_cache import (
    cache_lock,
    read_bytes_or_empty,
    timing_cache_details,
    timing_cache_path,
)
from builder.common.atomic import write_bytes_atomic
from builder.errors import EngineBuildError
from builder.pipeline.stage_types import ArtifactOut, StageContext, StageResult

SCRATCH_CALIBRATION = "calibration.cache"  # the calibrator reads and writes here; published only after success


def _read_timing_cache(ctx: StageContext, host: TrtHost) -> tuple[Path | None, bytes | None]:
    """(file, bytes before), read under the cache's lock; (None, b"") for an unsaved cache; (None, None) when off.

    The lock is held only to read here and to save in :func:`_save_timing_cache`, never for the build itself, so
    builds sharing a cache (``make engines`` on identical GPUs) run side by side.
    """
    if ctx.profile.frozen is not None:
        return None, _frozen_cache(ctx)  # read only: a frozen build never writes a cache
    name = ctx.profile.timing_cache
    if name is None:
        return None, None
    if ctx.cache_dir is None:
        return None, b""  # a fresh in-memory cache: same tactics selection, nothing kept
    path = timing_cache_path(ctx.cache_dir, name, host.gpu, host.version)
    with cache_lock(path):
        return path, read_bytes_or_empty(path)


def _cache_source(ctx: StageContext, cache_path: Path | None) -> Path:
    if ctx.profile.frozen is not None:
        return ctx.models_dir / ctx.profile.frozen
    return cache_path or Path("(memory)")


def _frozen_cache(ctx: StageContext) -> bytes:
    """The committed timing cache of a ``frozen`` profile (``<models>/<frozen>``).

    Raises:
        EngineBuildError: the file is missing or empty (a frozen build cannot time tactics: it has nothing to use).
    """
    path = ctx.models_dir / str(ctx.profile.frozen)
    data = read_bytes_or_empty(path)
    if not data:
        raise EngineBuildError(
            f"frozen: the committed timing cache {path} is {'empty' if path.exists() else 'missing'}",
            hint="build once with `timing_cache: <name>` and without `frozen` on this GPU model and TensorRT, copy "
            '<cache>/timing-cache/<name>-….cache to that path and commit it (docs/tensorrt.md, "Frozen builds")',
        )
    return data


def _save_timing_cache(path: Path, before: bytes, built: trt_calls.PlanBuild) -> str:
    """Write this build's timing cache to ``path`` under the lock; entries another build saved there since
    ``before`` was read are combined in (``ITimingCache.combine``, as Polygraphy's ``EngineBytesFromNetwork``
    does), never overwritten. Returns what was done, for the manifest."""
    assert built.timing_cache is not None
    with cache_lock(path):
        current = read_bytes_or_empty(path)
        data, saved = built.timing_cache, "written"
        if current and current != before:  # another build saved meanwhile
            combined = built.combine_timing_cache(current)
            if combined is None:
                saved = "replaced: TensorRT could not combine the entries another build saved meanwhile"
            else:
                data, saved = combined, "combined with the entries another build saved meanwhile"
        write_bytes_atomic(path, data)
    return saved


@dataclass(frozen=True)
class _Calibration:
    feed: calibration.CalibrationFeed
    key: calibration.CalibrationKey
    cache: Path | None  # the keyed cache in the cache folder; None when off or no cache folder
    sidecar: Path | None
    status: str  # "calibrated" | "reused cache" | "cache off" | "no cache folder"


def _calibration(
    ctx: StageContext, calib: CalibrationSettings, input_name: str, facts: OnnxFacts, host: TrtHost
) -> _Calibration:
    """Images, key and validated cache of an INT8 build; seeds ``scratch/calibration.cache`` from a valid cache.

    Raises:
        ImageError: missing or too few calibration images.
        EngineBuildError: a stale or unkeyed calibration cache.
    """
    from builder.yolo.calibration_data import calibration_set

    key_inputs = ctx.manifest.key_inputs if ctx.manifest is not None else None  # the digest the build key made
    data = calibration_set(ctx.models_dir, calib.data, calib.samples, key_inputs)
    imgsz, images = ctx.profile.imgsz, list(data.images)
    key = calibration.calibration_key(
        calib, images, data.root, imgsz, host.version, host.gpu, facts.sha256, data.sha256
    )
    feed = calibration.CalibrationFeed(images, imgsz, calib.batch, input_name)
    cache = sidecar = None
    status = "cache off" if calib.cache == "off" else "no cache folder"
    if calib.cache == "auto" and ctx.cache_dir is not None:
        cache, sidecar = calibration.cache_paths(ctx.cache_dir, ctx.profile.name, host.gpu, host.version)
        status = "reused cache" if calibration.check_cache(cache, sidecar, key) == "valid" else "calibrated"
    scratch = ctx.scratch / SCRATCH_CALIBRATION
    scratch.unlink(missing_ok=True)
    if status == "reused cache" and cache is not None:
        shutil.copyfile(cache, scratch)
    return _Calibration(feed, key, cache, sidecar, status)


def engine_from_onnx(ctx: StageContext, onnx_path: Path) -> StageResult:
    """Build ``model.plan`` (+ ``layers.json``, optional ``model.engine`` and ``calibration.cache``).

    Raises:
        HostEnvironmentError: see :func:`tensorrt_host` (checked here only when ``ctx.host`` is not a TrtHost).
        EngineBuildError: the ONNX is unfit (opset, input shape) or TensorRT fails to parse or build it.
        ImageError: INT8 calibration images are missing or too few.
    """
    profile = ctx.profile
    host = ctx.host if isinstance(ctx.host, TrtHost) else tensorrt_host(profile)  # found once per build
    facts = onnx_facts(onnx_path)
    check_onnx_opset(facts, host.version)
    input_name, input_shape = single_input(facts)
    settings = build_settings_from_profile(profile, host.version, host.gpu, input_name=input_name)
    check_onnx_input(input_name, input_shape, settings.input_shapes)
    details: dict[str, Any] = {
        **host.facts(),
        "features": host.features.to_dict(),
        "onnx": {"sha256": facts.sha256, "opset": facts.opset, "input": [input_name, list(input_shape)]},
        "settings": settings.to_dict(),
    }
    calib = None
    artifacts = [engine_files.PLAN, engine_files.LAYERS]
    if settings.int8_quantization == explicit.QDQ:  # TensorRT builds the Q/DQ model made here (explicit.py)
        onnx_path, details["int8"] = explicit.make_qdq_model(ctx, onnx_path, input_name)
        check_onnx_opset(onnx_facts(onnx_path), host.version)
        artifacts.append(ArtifactOut(explicit.QDQ_MODEL, "qdq-onnx"))
    if settings.fp16_onnx:  # TensorRT 11: FP16 must be in the ONNX (explicit.py)
        onnx_path, details["fp16"] = explicit.make_fp16_model(ctx, onnx_path)
        artifacts.append(ArtifactOut(explicit.FP16_MODEL, "fp16-onnx"))
    if settings.calibration is not None:
        calib = _calibration(ctx, settings.calibration, input_name, facts, host)
        details["calibration"] = {"status": calib.status, "cache": str(calib.cache or ""), "key": calib.key.to_dict()}
    scratch_cache = ctx.scratch / SCRATCH_CALIBRATION
    log = LogRecorder()
    ctx.log(
        f"build: TensorRT {host.version} on {host.gpu.name} (cc {host.gpu.compute_capability}), "
        f"{profile.precision.value}, input {input_name} "
        f"{list(settings.input_shapes.min)}..{list(settings.input_shapes.max)}"
    )
    cache_path, before = _read_timing_cache(ctx, host)
    feed = calib.feed if calib else None
    try:
        built = trt_calls.plan_from_onnx(
            onnx_path,
            settings,
            log,
            timing_cache=before,
            calibration_feed=feed,
            calibration_cache=scratch_cache if calib else None,
            timing_cache_source=str(_cache_source(ctx, cache_path)),
            frozen=profile.frozen is not None,
        )
    except EngineBuildError:
        if calib is not None and calib.feed.error is not None:
            calibration.check_fed(calib.feed, calib.status)  # raises: the feed's error is the real cause
        raise
    if calib is not None:
        try:
            calibration.check_fed(calib.feed, calib.status)  # calibration ran short: never keep such an engine
        except Exception:
            scratch_cache.unlink(missing_ok=True)
            raise
    saved = None
    if cache_path is not None and before is not None and built.timing_cache is not None:
        saved = _save_timing_cache(cache_path, before, built)
    if before is None:
        details["timing_cache"] = {"status": "off"}
    else:
        details["timing_cache"] = timing_cache_details(
            _cache_source(ctx, cache_path), before, built.timing_cache or b"", built.timing_cache_status
        )
        if profile.frozen is not None:
            details["timing_cache"]["frozen"] = True
        if saved is not None:
            details["timing_cache"]["saved"] = saved
    ctx.path(engine_files.PLAN).write_bytes(built.plan)
    layer_count = engine_files.write_layers_json(ctx.path(engine_files.LAYERS), built.engine_information)
    if profile.outputs.ultralytics_engine:
        meta = engine_files.ultralytics_metadata(facts.metadata, profile.name)
        ctx.path(engine_files.ULTRALYTICS_ENGINE).write_bytes(engine_files.ultralytics_engine_bytes(built.plan, meta))
        artifacts.append(engine_files.ULTRALYTICS_ENGINE)
    if calib is not None:
        details["calibration"]["batches"] = calib.feed.batches_served  # 0 when a valid cache was reused
    if calib is not None and scratch_cache.is_file():
        shutil.copyfile(scratch_cache, ctx.path(engine_files.CALIBRATION_CACHE))
        artifacts.append(engine_files.CALIBRATION_CACHE)
        if calib.status == "calibrated" and calib.cache is not None and calib.sidecar is not None:
            calibration.publish_cache(scratch_cache, calib.cache, calib.sidecar, calib.key)
    details.update(
        plan={
            "path": engine_files.PLAN.path,
            "size": len(built.plan),
            "sha256": hashlib.sha256(built.plan).hexdigest(),
        },
        layers=layer_count,
        network=built.network,
        layer_precisions=built.layer_precisions,
        build_seconds=round(built.seconds, 3),
        log={"counts": dict(log.counts), "tail": log.tail(10)},
    )
    ctx.log(
        f"build: {engine_files.PLAN.path} {len(built.plan) / 2**20:.1f} MiB, "
        f"{layer_count} layers, {built.seconds:.1f} s"
    )
    inputs = {"calibration": details["calibration"]} if calib is not None else {}
    if "int8" in details:
        inputs = {"calibration": details["int8"]["calibration_data"]}
    return StageResult(details=details, artifacts=tuple(artifacts), inputs=inputs)

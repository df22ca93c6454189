"""The only module that calls TensorRT (and Polygraphy's TensorRT backend). Kept thin on purpose.

Every decision (flags, shapes, versions, caches, error wording) is made in pure modules; this one turns
:class:`TrtBuildSettings` names into TensorRT calls with ``getattr``, so one code path serves 8.6, 10.x and
11.x. It type-checks against ``tensorrt-stubs`` (TensorRT 10.13); calls that exist only on some versions go
through ``getattr``. ``tensorrt`` is imported inside each function: importing this module needs no TensorRT.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from builder.backends.tensorrt.errors import LogRecorder, ParserIssue, build_error, parser_error
from builder.backends.tensorrt.layer_precision import OBEY_FLAG, constraints_record, select_constraints
from builder.backends.tensorrt.settings import CalibrationSettings, TrtBuildSettings
from builder.errors import EngineBuildError

if TYPE_CHECKING:
    import tensorrt as trt


def import_tensorrt() -> ModuleType:
    """Import the real ``tensorrt`` module.

    Raises:
        ImportError: not installed, or only its type stubs are (a namespace package without ``Builder``).
    """
    import tensorrt

    if not hasattr(tensorrt, "Builder") or not hasattr(tensorrt, "__version__"):
        where = ", ".join(getattr(tensorrt, "__path__", [])) or "?"
        raise ImportError(f"'tensorrt' at {where} is only type stubs, not the TensorRT library")
    return tensorrt


@functools.cache
def _logger_for(module: ModuleType) -> Any:
    class RecordingLogger(module.ILogger):  # type: ignore[name-defined]
        """Hands each message to the LogRecorder of the build running now (none between builds)."""

        def __init__(self) -> None:
            module.ILogger.__init__(self)  # required by the bindings (no super() for trampolines)
            self.recorder: LogRecorder | None = None

        def log(self, severity: Any, msg: str) -> None:
            if self.recorder is not None:
                self.recorder.add(getattr(severity, "name", str(severity)), msg)

    return RecordingLogger()


def tensorrt_logger(log: LogRecorder | None = None) -> Any:
    """The one TensorRT logger of this process, now recording into ``log``.

    It lives as long as the process, like ultralytics' ``get_tensorrt_logger()`` (lru_cache, 8.4.190
    ``utils/export/engine.py``): ``init_libnvinfer_plugins`` keeps a raw pointer to it in the plugin library's global
    ``gLogger`` (NVIDIA/TensorRT ``plugin/api/inferPlugin.cpp:105`` in v8.6.1, ``:112`` in v10.8.0), so a logger freed
    after one build would leave that pointer dangling.
    """
    import tensorrt as trt

    logger = _logger_for(trt)
    logger.recorder = log
    return logger


def _issue(error: Any) -> ParserIssue:
    code = error.code()
    return ParserIssue(
        code=getattr(code, "name", str(code)),
        desc=error.desc(),
        node=error.node(),
        node_name=getattr(error, "node_name", lambda: "")(),  # TensorRT 10+
        operator=getattr(error, "node_operator", lambda: "")(),  # TensorRT 10+
    )


def _calibrator(calib: CalibrationSettings, feed: Iterable[Any], cache: Path | None) -> Any:
    import tensorrt as trt
    from polygraphy.backend.trt import Calibrator

    base = getattr(trt, calib.calibrator)  # IInt8MinMaxCalibrator; absent on TensorRT 11
    return Calibrator(feed, cache=str(cache) if cache is not None else None, BaseClass=base)


def _set_timing_cache(config: Any, data: bytes, source: str) -> bool:
    """``config.set_timing_cache`` with ``data``; False when TensorRT rejects its header (other GPU/version).

    ``create_timing_cache`` returns None (a null ``ITimingCache*``) for bytes it cannot read, and the
    bindings then raise TypeError on ``set_timing_cache(None, …)``: that is a corrupt file, reported as such.

    Raises:
        EngineBuildError: the cache bytes are not a timing cache (corrupt or truncated file).
    """
    try:
        cache = config.create_timing_cache(data)
        if cache is None:
            raise TypeError("create_timing_cache returned None")
        return bool(config.set_timing_cache(cache, ignore_mismatch=False))
    except (TypeError, RuntimeError) as err:
        raise EngineBuildError(
            f"the timing cache {source} ({len(data)} bytes) is not a timing cache this TensorRT can read: "
            f"corrupt or truncated ({err})",
            hint=f"delete {source}; the next build starts a new cache there (or set `timing_cache: off`)",
        ) from err


def _constrain_head_layers(trt: Any, network: Any, config: Any) -> dict[str, Any]:
    """Keep the head's Sigmoid layers in FP32 and its output/DFL convolutions in FP16 (see ``layer_precision``)."""
    layers = [network.get_layer(i) for i in range(network.num_layers)]
    chosen = select_constraints([(layer.name, getattr(layer.type, "name", str(layer.type))) for layer in layers])
    for item in chosen:
        layer, dtype = layers[item.index], getattr(trt.DataType, item.dtype)
        layer.precision = dtype
        for j in range(layer.num_outputs):
            layer.set_output_type(j, dtype)
    if chosen:
        config.set_flag(getattr(trt.BuilderFlag, OBEY_FLAG))
    return constraints_record(chosen)


@dataclass
class PlanBuild:
    """What one successful build produced."""

    plan: bytes
    timing_cache: bytes | None  # serialized after the build; None when the cache is off
    timing_cache_status: str  # "off" | "new" | "loaded" | "rejected"
    engine_information: str  # inspector JSON (layers, tactics)
    seconds: float
    network: dict[str, Any] = field(default_factory=dict)
    layer_precisions: dict[str, Any] = field(default_factory=dict)  # INT8: layers kept out of INT8 (empty otherwise)
    # this build's timing cache combined with serialized entries saved meanwhile by another build; None: refused
    combine_timing_cache: Callable[[bytes], bytes | None] = lambda other: None


def _timing_cache_combiner(config: Any) -> Callable[[bytes], bytes | None]:
    """``ITimingCache.combine(input_cache, ignore_mismatch)`` (bound in NVIDIA/TensorRT v8.6.1
    ``python/src/infer/pyCore.cpp:1161`` and v10.8.0 ``:1599``): entries of the other cache are appended, conflicting
    ones skipped; False for a cache of another TensorRT version or, without ignore_mismatch, another device
    (``include/NvInfer.h`` ``ITimingCache::combine``). The file is keyed by GPU model and version, so no mismatch is
    ignored."""

    def combine(other: bytes) -> bytes | None:
        theirs = config.create_timing_cache(other)
        ours = config.get_timing_cache()
        if theirs is None or not ours.combine(theirs, ignore_mismatch=False):
            return None
        return bytes(ours.serialize())

    return combine


def plan_from_onnx(
    onnx_path: Path,
    settings: TrtBuildSettings,
    log: LogRecorder,
    *,
    timing_cache: bytes | None,
    calibration_feed: Iterable[Any] | None = None,
    calibration_cache: Path | None = None,
    timing_cache_source: str = "(in-memory timing cache)",
    frozen: bool = False,
) -> PlanBuild:
    """Parse ``onnx_path`` and build a serialized plan as ``settings`` say. ``frozen``: ``timing_cache`` is a
    committed cache that TensorRT must accept (``settings`` then hold ``ERROR_ON_TIMING_CACHE_MISS``).

    Raises:
        EngineBuildError: parse or build failure, with the parser's errors and the TensorRT log tail.
    """
    import tensorrt as trt

    logger = tensorrt_logger(log)
    trt.init_libnvinfer_plugins(logger, "")
    builder = trt.Builder(logger)
    flags = 0
    for name in settings.network_flags:
        flags |= 1 << int(getattr(trt.NetworkDefinitionCreationFlag, name))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    for name in settings.parser_flags:
        parser.set_flag(getattr(trt.OnnxParserFlag, name))
    if not parser.parse_from_file(str(onnx_path)):
        raise parser_error(str(onnx_path), [_issue(parser.get_error(i)) for i in range(parser.num_errors)], log)
    tensors = [network.get_input(i) for i in range(network.num_inputs)]
    tensors += [network.get_output(i) for i in range(network.num_outputs)]
    described = {
        t.name: {"shape": [t.shape[i] for i in range(len(t.shape))], "dtype": str(t.dtype), "input": t.is_network_input}
        for t in tensors
    }

    config = builder.create_builder_config()
    for name in settings.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, name))
    for name in settings.cleared_flags:
        config.clear_flag(getattr(trt.BuilderFlag, name))
    if settings.workspace_bytes is not None:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    config.builder_optimization_level = settings.builder_optimization_level
    config.hardware_compatibility_level = getattr(trt.HardwareCompatibilityLevel, settings.hardware_compatibility_level)
    config.profiling_verbosity = getattr(trt.ProfilingVerbosity, settings.profiling_verbosity)
    profile = None
    if any(dim < 0 for info in described.values() if info["input"] for dim in info["shape"]):
        shapes = settings.input_shapes  # a static network takes no profile (as Ultralytics' onnx2engine)
        profile = builder.create_optimization_profile()
        low, opt, high = (trt.Dims(list(s)) for s in (shapes.min, shapes.opt, shapes.max))
        profile.set_shape(settings.input_name, low, opt, high)
        config.add_optimization_profile(profile)
    calibrator = None
    if settings.calibration is not None:
        if calibration_feed is None:
            raise EngineBuildError("INT8 build without calibration data", hint="this is a bug: please report it")
        calibrator = _calibrator(settings.calibration, calibration_feed, calibration_cache)
        config.int8_calibrator = calibrator  # removed in TensorRT 11
        if settings.calibration.use_calibration_profile and profile is not None:
            config.set_calibration_profile(profile)  # 8.6: calibrate at the OPT shape
    precisions: dict[str, Any] = {}
    if settings.layer_precisions:
        precisions = _constrain_head_layers(trt, network, config)

    status = "off"
    if timing_cache is not None:
        status = "loaded" if timing_cache else "new"
        if not _set_timing_cache(config, timing_cache, timing_cache_source):
            if frozen:
                raise EngineBuildError(
                    f"frozen: TensorRT rejected the committed timing cache {timing_cache_source}: it was made on "
                    "another GPU model or TensorRT version",
                    hint="a frozen build reproduces only on the GPU model and TensorRT its cache was made with; "
                    'make and commit a cache for this one (docs/tensorrt.md, "Frozen builds")',
                )
            status = "rejected"  # header from another device or version: start empty
            config.set_timing_cache(config.create_timing_cache(b""), ignore_mismatch=False)

    started = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    seconds = time.perf_counter() - started
    if calibrator is not None:
        calibrator.free()
    if serialized is None:  # TensorRT reports failure only through the log
        raise build_error(log)
    plan = bytes(serialized)
    cache_out = bytes(config.get_timing_cache().serialize()) if timing_cache is not None else None
    info = engine_information(plan, logger)
    return PlanBuild(plan, cache_out, status, info, seconds, described, precisions, _timing_cache_combiner(config))


def engine_information(plan: bytes, logger: trt.ILogger | None = None) -> str:
    """The engine inspector's JSON for ``plan`` (deserializes it on this GPU).

    Raises:
        EngineBuildError: the plan does not deserialize here.
    """
    import tensorrt as trt

    runtime = trt.Runtime(logger or trt.Logger(trt.Logger.WARNING))
    runtime.engine_host_code_allowed = True  # version-compatible plans embed the lean runtime
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        raise EngineBuildError(
            "the plan TensorRT just built does not deserialize on this GPU",
            hint="check the TensorRT log; this points at a driver or TensorRT installation problem",
        )
    inspector = engine.create_engine_inspector()
    return inspector.get_engine_information(trt.LayerInformationFormat.JSON)


def trt_runner(plan: bytes) -> Any:
    """A Polygraphy ``TrtRunner`` over the plan (``with runner: runner.infer(feed)``)."""
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner

    return TrtRunner(EngineFromBytes(plan))  # EngineFromBytes allows host code (version-compatible plans)


def time_with_trt_runner(
    plan: bytes,
    shape: tuple[int, ...],
    warmup: int,
    iterations: int,
    budget_s: float = 0.0,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Per-inference times in ms from Polygraphy's ``TrtRunner`` (includes host<->device copies), stopping at
    ``iterations`` or ``budget_s`` as :func:`builder.timing.sampling.timed_runs` decides (0: no budget)."""
    import numpy as np

    from builder.timing.sampling import timed_runs

    runner = trt_runner(plan)
    with runner:
        name = next(iter(runner.get_input_metadata(use_numpy_dtypes=False)))
        feed = {name: np.random.default_rng(0).random(shape, dtype=np.float32)}

        def once() -> float:
            runner.infer(feed)
            return float(runner.last_inference_time()) * 1000.0

        return timed_runs(once, warmup=warmup, iterations=iterations, budget_s=budget_s, clock=clock)

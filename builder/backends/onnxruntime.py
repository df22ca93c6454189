"""ONNX Runtime (CPU) backend: an ORT-optimized, portable ONNX model.

``build`` saves the graph ONNX Runtime produces at ``ORT_ENABLE_BASIC``:
constant folding, redundant-node elimination and semantics-preserving fusions
(Conv+BatchNorm, Conv+Add, ...), all expressed in standard ONNX ops, so the file
runs on any CPU and any execution provider. Higher levels (``EXTENDED``,
``ALL``) insert ORT-internal contrib ops and NCHWc layout transforms chosen for
the building machine's instruction set; ORT documents that such offline-optimized
files should only run on the same kind of hardware, so a published artifact
must not use them. ORT still applies those optimizations when it loads the file.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.common.hashing import sha256_file
from builder.errors import BenchmarkError, EngineBuildError, HostEnvironmentError, first_line
from builder.machine.gpu import GpuProbe
from builder.pipeline.stage_types import ArtifactOut, BuildResult, StageContext, StageResult
from builder.profile import Precision, Profile
from builder.timing.sampling import noise_facts, timed_runs
from builder.timing.summary import latency_summary
from builder.yolo.shapes import input_shape

NAME = "onnxruntime"
MODEL_NAME = "model.ort.onnx"
OPTIMIZATION_LEVEL = "ORT_ENABLE_BASIC"
BENCHMARK_SEED = 0


@dataclass(frozen=True)
class OrtHost:
    """The ONNX Runtime this machine has."""

    version: str
    providers: tuple[str, ...]

    def facts(self) -> dict[str, Any]:
        return {"onnxruntime": self.version, "providers": list(self.providers)}


def check_available(profile: Profile, gpus: GpuProbe | None = None) -> OrtHost:
    """Check onnxruntime with its CPU provider is importable and the profile's precision is FP32 or INT8.

    Raises:
        HostEnvironmentError: onnxruntime is missing, lacks the CPU provider, or the profile asks
            for a precision this backend cannot build.
    """
    if profile.precision not in (Precision.FP32, Precision.INT8):
        raise HostEnvironmentError(
            f"the onnxruntime backend builds FP32 and INT8 models only; profile {profile.name!r} asks for "
            f"{profile.precision.value}",
            hint="set precision: fp32 or int8, or use backend: tensorrt for fp16",
        )
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise HostEnvironmentError(
            f"onnxruntime cannot be imported: {err}",
            hint="run the build in the builder image, which installs onnxruntime",
        ) from err
    providers = list(ort.get_available_providers())
    if "CPUExecutionProvider" not in providers:
        raise HostEnvironmentError(
            f"onnxruntime {ort.__version__} has no CPUExecutionProvider (has {providers})",
            hint="install the standard onnxruntime package",
        )
    return OrtHost(ort.__version__, tuple(providers))


def build(ctx: StageContext, onnx_path: Path) -> StageResult:
    """Write ``model.ort.onnx``: ``onnx_path`` optimized by ONNX Runtime at the basic level (FP32), or quantized
    to INT8 (:mod:`builder.backends.ort_quantize`; the QDQ model as quantized, since offline constant folding
    would fold the weights' DequantizeLinear back to float).

    Raises:
        EngineBuildError: ONNX Runtime cannot load, optimize or quantize the model.
    """
    import onnxruntime as ort

    out = ctx.workdir / MODEL_NAME
    if ctx.profile.precision is Precision.INT8:
        return _build_int8(ctx, onnx_path, out)
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, OPTIMIZATION_LEVEL)
    options.optimized_model_filepath = str(out)
    ctx.log(f"build: optimizing {onnx_path.name} with ONNX Runtime {ort.__version__} ({OPTIMIZATION_LEVEL})")
    started = time.perf_counter()
    try:
        ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # ORT raises its own Fail/InvalidGraph/... types
        _raise_if_disk_full(ctx.workdir, onnx_path, err)
        raise EngineBuildError(
            f"ONNX Runtime could not optimize {onnx_path}: {first_line(err)}",
            hint="check the exported model with `polygraphy inspect model`; try another opset",
        ) from err
    if not out.is_file():
        raise EngineBuildError(
            f"ONNX Runtime wrote no optimized model to {out}", hint="check the build folder is writable"
        )
    details = {
        "backend": NAME,
        "onnxruntime": ort.__version__,
        "optimization_level": OPTIMIZATION_LEVEL,
        **_model_record(onnx_path, out, "optimized", started),
    }
    return StageResult(details=details, artifacts=(ArtifactOut(MODEL_NAME, "model"),))


def _build_int8(ctx: StageContext, onnx_path: Path, out: Path) -> StageResult:
    import onnxruntime as ort

    from builder.backends.ort_quantize import quantize
    from builder.pipeline.stage_types import ExportResult

    export = ctx.handed(ExportResult)
    input_name = export.input.name if export is not None else _first_input(onnx_path)
    started = time.perf_counter()
    key_inputs = ctx.manifest.key_inputs if ctx.manifest is not None else None
    if ctx.profile.int8 is not None and ctx.profile.int8.search is not None:  # the searched plan (precision_search)
        from builder.backends.precision_search import SearchInputs, search_plan

        output_name = export.outputs[0].name if export is not None and export.outputs else "output0"
        found = SearchInputs(onnx_path, out, input_name, output_name, ctx.models_dir, ctx.scratch, ctx.cache_dir,
                             key_inputs, onnxrt_runner)  # fmt: skip
        int8 = search_plan(ctx.profile, found, ctx.log)
    else:
        int8 = quantize(
            onnx_path, out, ctx.profile, ctx.models_dir, input_name,
            scratch=ctx.scratch, cache_dir=ctx.cache_dir, key_inputs=key_inputs, log=ctx.log,
        )  # fmt: skip
    details = {
        "backend": NAME,
        "onnxruntime": ort.__version__,
        "int8": int8,
        **_model_record(onnx_path, out, "quantized", started),
    }
    inputs = {"calibration": int8["calibration_data"]}
    return StageResult(details=details, artifacts=(ArtifactOut(MODEL_NAME, "model"),), inputs=inputs)


def _model_record(onnx_path: Path, out: Path, made: str, started: float) -> dict[str, Any]:
    """What both builds record of the model they wrote: node counts (``made``: how), time, path, size, sha256."""
    return {
        "nodes": {"onnx": _node_count(onnx_path), made: _node_count(out)},
        "build_seconds": round(time.perf_counter() - started, 3),
        "model": {"path": MODEL_NAME, "size": out.stat().st_size, "sha256": sha256_file(out)},
    }


def _first_input(onnx_path: Path) -> str:
    import onnx

    return str(onnx.load(str(onnx_path), load_external_data=False).graph.input[0].name)


def _raise_if_disk_full(folder: Path, onnx_path: Path, err: Exception) -> None:
    """ONNX Runtime reports a full disk only as a failed serialization: check the free space ourselves."""
    free = shutil.disk_usage(folder).free
    if free < 2 * onnx_path.stat().st_size:
        raise HostEnvironmentError(
            f"build: no space left on device in {folder} ({free} bytes free; ONNX Runtime said: {first_line(err)})",
            hint="free disk space in the artifacts folder (remove old builds under builds/) and run again",
        ) from err


def onnxrt_runner(path: Path, name: str | None = None) -> Any:
    """A Polygraphy ONNX Runtime runner on the CPU provider."""
    os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"
    from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx

    return OnnxrtRunner(SessionFromOnnx(str(path), providers=["cpu"]), name=name)


def make_runner(artifact: Path, profile: Profile) -> Any:
    """A Polygraphy runner for the optimized model."""
    return onnxrt_runner(artifact, name=f"{NAME}:{artifact.name}")


def benchmark(ctx: StageContext, build: BuildResult) -> Mapping[str, Any]:
    """Time ``runner.infer`` on a seeded random batch of ``profile.batch.opt`` images.

    Latency is Polygraphy's ``last_inference_time()`` (the ONNX Runtime ``run``
    call, without feed preparation).

    Raises:
        BenchmarkError: inference fails.
    """
    import numpy as np

    profile, artifact = ctx.profile, ctx.path(build.model)
    spec = profile.benchmark
    batch = profile.batch.opt
    feed_array = np.random.default_rng(BENCHMARK_SEED).random(input_shape(profile, batch), dtype=np.float32)
    runner = make_runner(artifact, profile)
    ctx.log(
        f"benchmark: {spec.warmup} warm-up + up to {spec.iterations} timed runs "
        f"within {spec.budget_s:g} s at batch {batch}"
    )
    try:
        with runner:
            feed = {build.input_name: feed_array}

            def once() -> float:
                runner.infer(feed)
                return float(runner.last_inference_time()) * 1000.0

            times_ms = timed_runs(once, warmup=spec.warmup, iterations=spec.iterations, budget_s=spec.budget_s)
    except Exception as err:
        raise BenchmarkError(
            f"inference on {artifact.name} failed: {first_line(err)}",
            hint="rerun `verify`; the model may not accept this batch size",
        ) from err
    noise = noise_facts(times_ms, budget_s=spec.budget_s, iterations=spec.iterations)
    return latency_summary(times_ms, batch, method="polygraphy-onnxrt", cpu_count=os.cpu_count(), **noise)


def _node_count(path: Path) -> int:
    import onnx

    return len(onnx.load(str(path), load_external_data=False).graph.node)

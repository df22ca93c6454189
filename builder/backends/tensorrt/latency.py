"""Benchmark a plan within ``benchmark.budget_s``: ``trtexec`` (CUDA graphs, no copies) when present, else
Polygraphy's ``TrtRunner``; both record the noise facts the nightly's latency gate needs."""

from __future__ import annotations

from typing import Any

from builder.backends.tensorrt import trt_calls
from builder.backends.tensorrt.engine_files import read_plan
from builder.backends.tensorrt.settings import shapes_from_profile
from builder.backends.tensorrt.trtexec import (
    find_trtexec,
    parse_trtexec_output,
    read_exported_times,
    run_trtexec,
    trtexec_command,
    trtexec_timing,
)
from builder.errors import BenchmarkError
from builder.pipeline.stage_types import BuildResult, StageContext
from builder.profile import Profile
from builder.timing.sampling import noise_facts
from builder.timing.summary import LATENCY_KEYS, latency_summary


def numbers_from_trtexec(parsed: dict[str, Any], batch: int) -> dict[str, Any]:
    """The benchmark contract (``latency_ms`` p50/p90/p99/mean/min/max, ``throughput_ips``) from a parsed log.

    Raises:
        BenchmarkError: the log lacks a percentile this project reports.
    """
    latency = parsed["latency_ms"]
    missing = [k for k in LATENCY_KEYS if k not in latency]
    if missing:
        raise BenchmarkError(
            f"trtexec's Latency line lacks {missing}", hint="pass --percentile=50,90,99 (trtexec 8.6+)"
        )
    return {
        "method": "trtexec",
        "latency_ms": {k: latency[k] for k in LATENCY_KEYS},
        "throughput_ips": parsed["throughput_qps"] * batch,  # one query = one batch
        "throughput_qps": parsed["throughput_qps"],
        "gpu_compute_ms": parsed.get("gpu_compute_ms", {}),
        "trtexec_tensorrt": parsed.get("tensorrt"),
    }


def fallback_reason(profile: Profile, trtexec: str | None) -> str | None:
    """Why trtexec is not used, or None when it is."""
    if profile.version_compatible:
        return "version-compatible plan: timed with Polygraphy's TrtRunner, which allows its embedded lean runtime"
    if trtexec is None:
        return "trtexec not found (PATH, /opt/tensorrt/bin, /workspace/tensorrt/bin)"
    return None


def benchmark_plan(ctx: StageContext, build: BuildResult) -> dict[str, Any]:
    """Time the plan at the OPT batch within ``benchmark.budget_s``; record the method, the noise facts of
    :func:`builder.timing.sampling.noise_facts` (as ONNX Runtime does) and, for trtexec, the exact command.

    Raises:
        BenchmarkError: trtexec fails or prints no summary; or the TrtRunner fallback fails.
    """
    profile, artifact = ctx.profile, ctx.path(build.model)
    shape = shapes_from_profile(profile).opt
    batch, spec = profile.batch.opt, profile.benchmark
    input_name = build.input_name
    trtexec = find_trtexec()
    reason = fallback_reason(profile, trtexec)
    if trtexec is not None and reason is None:
        times_file = ctx.scratch / "trtexec-times.json"
        cmd = trtexec_command(
            trtexec,
            artifact,
            iterations=spec.iterations,
            budget_s=spec.budget_s,
            input_shape=(input_name, shape) if profile.dynamic else None,
            times_file=times_file,
        )
        ctx.log(f"benchmark: {' '.join(cmd)}")
        output = run_trtexec(cmd)
        (ctx.scratch / "trtexec.log").write_text(output)
        numbers = numbers_from_trtexec(parse_trtexec_output(output), batch)
        times = read_exported_times(times_file)
        return {
            **numbers,
            "batch": batch,
            "shape": list(shape),
            "command": cmd,
            "warmup_ms": trtexec_timing(spec.iterations, spec.budget_s).warmup_ms,
            "iterations": len(times),
            **noise_facts(times, budget_s=spec.budget_s, iterations=spec.iterations),
        }
    ctx.log(
        f"benchmark: {reason}; {spec.warmup} warm-up + up to {spec.iterations} timed TrtRunner runs "
        f"within {spec.budget_s:g} s at batch {batch}"
    )
    try:
        times = trt_calls.time_with_trt_runner(read_plan(artifact), shape, spec.warmup, spec.iterations, spec.budget_s)
    except Exception as err:  # Polygraphy/TensorRT raise their own types
        raise BenchmarkError(
            f"TrtRunner inference on {artifact.name} failed: {err}", hint="rerun `verify` to see whether the plan loads"
        ) from err
    noise = noise_facts(times, budget_s=spec.budget_s, iterations=spec.iterations)
    return latency_summary(times, batch, method="polygraphy-trtrunner", reason=reason, shape=list(shape), **noise)

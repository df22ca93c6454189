"""Stage ``benchmark``: latency percentiles and throughput of the built artifact, through its backend."""

from __future__ import annotations

import math
from typing import Any, Mapping

from builder.backends.registry import get_backend
from builder.errors import BenchmarkError
from builder.stages.base import StageContext, StageResult

NAME = "benchmark"
LATENCY_KEYS = ("p50", "p90", "p99", "mean", "min", "max")


def run(ctx: StageContext) -> StageResult:
    """Benchmark the ``model`` artifact of the build stage and record the backend's numbers.

    Raises:
        BenchmarkError: the backend fails, or reports numbers that are missing, non-positive or out of order.
    """
    build = ctx.prior.get("build")
    if build is None:
        raise BenchmarkError("no build result to benchmark", hint="run the build stage first")
    artifact = ctx.path(build.artifact("model"))
    backend = get_backend(ctx.profile.backend.value)
    numbers = dict(backend.benchmark(artifact, ctx.profile, ctx))
    check_benchmark_numbers(numbers)
    latency = numbers["latency_ms"]
    ctx.log(
        f"benchmark: p50 {latency['p50']:.3f} ms, p99 {latency['p99']:.3f} ms, "
        f"{numbers['throughput_ips']:.1f} img/s at batch {numbers['batch']} ({numbers['method']})"
    )
    return StageResult(details=numbers)


def check_benchmark_numbers(numbers: Mapping[str, Any]) -> None:
    """Require ``method``, positive finite latencies in order (min <= p50 <= p90 <= p99 <= max) and throughput.

    Raises:
        BenchmarkError: a number is missing or inconsistent.
    """
    latency = numbers.get("latency_ms")
    if not numbers.get("method") or not isinstance(latency, Mapping) or any(k not in latency for k in LATENCY_KEYS):
        raise BenchmarkError(
            f"backend returned incomplete numbers: {sorted(numbers)}", hint="this is a backend bug; please report it"
        )
    values = [float(latency[k]) for k in LATENCY_KEYS] + [float(numbers.get("throughput_ips", 0.0))]
    if not all(math.isfinite(v) and v > 0 for v in values):
        raise BenchmarkError(
            f"backend returned non-positive or non-finite timings: {dict(latency)}",
            hint="raise benchmark.iterations; a timer resolution problem gives zeros",
        )
    order = [latency["min"], latency["p50"], latency["p90"], latency["p99"], latency["max"]]
    pairs = [*zip(order, order[1:]), (latency["min"], latency["mean"]), (latency["mean"], latency["max"])]
    if any(a > b * (1 + 1e-9) for a, b in pairs):  # slack for rounding in percentile interpolation
        raise BenchmarkError(f"backend returned inconsistent latencies: {dict(latency)}", hint="this is a backend bug")

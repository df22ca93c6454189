"""Stage ``benchmark``: latency percentiles and throughput of the built artifact, through its backend."""

from __future__ import annotations

from builder.backends.registry import get_backend
from builder.errors import BenchmarkError
from builder.pipeline.stage_types import BuildResult, StageContext, StageResult
from builder.timing.summary import check_benchmark_numbers

NAME = "benchmark"


def run(ctx: StageContext) -> StageResult:
    """Benchmark the ``model`` artifact of the build stage and record the backend's numbers.

    Raises:
        BenchmarkError: the backend fails, or reports numbers that are missing, non-positive or out of order.
    """
    build = ctx.handed(BuildResult)
    if build is None:
        raise BenchmarkError("no build result to benchmark", hint="run the build stage first")
    backend = get_backend(ctx.profile.backend.value)
    numbers = dict(backend.benchmark(ctx, build))
    check_benchmark_numbers(numbers)
    latency = numbers["latency_ms"]
    ctx.log(
        f"benchmark: p50 {latency['p50']:.3f} ms, p99 {latency['p99']:.3f} ms, "
        f"{numbers['throughput_ips']:.1f} img/s at batch {numbers['batch']} ({numbers['method']})"
    )
    return StageResult(details=numbers)

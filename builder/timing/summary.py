"""The benchmark contract shared by every backend and the benchmark stage: latency summary and its checks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from builder.errors import BenchmarkError

LATENCY_KEYS = ("p50", "p90", "p99", "mean", "min", "max")


def latency_summary(times_ms: list[float], batch: int, *, method: str, **extra: Any) -> dict[str, Any]:
    """Percentiles (ms, linear interpolation) and throughput (images/s) of per-call latencies."""
    import numpy as np

    if not times_ms:
        raise BenchmarkError("no timed iterations", hint="set benchmark.iterations to at least 1")
    values = np.asarray(times_ms, dtype=np.float64)
    p50, p90, p99 = (float(v) for v in np.percentile(values, [50, 90, 99]))
    mean = float(values.mean())
    latency = {"p50": p50, "p90": p90, "p99": p99, "mean": mean, "min": float(values.min()), "max": float(values.max())}
    throughput = batch * 1000.0 / mean if mean > 0 else float("inf")
    return {
        "method": method,
        "latency_ms": latency,
        "throughput_ips": throughput,
        "batch": batch,
        "iterations": len(times_ms),
        **extra,
    }


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
    pairs = [*zip(order, order[1:], strict=False), (latency["min"], latency["mean"]), (latency["mean"], latency["max"])]
    if any(a > b * (1 + 1e-9) for a, b in pairs):  # slack for rounding in percentile interpolation
        raise BenchmarkError(f"backend returned inconsistent latencies: {dict(latency)}", hint="this is a backend bug")

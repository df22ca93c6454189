"""Stage ``benchmark``: real numbers from the ORT backend (never timed assertions), and the sanity checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from builder.errors import BenchmarkError
from builder.pipeline.stage_types import StageContext
from builder.pipeline.stages import benchmark as benchmark_stage
from builder.timing.summary import check_benchmark_numbers
from tests.pipeline.stages.helpers import ctx_logs, make_ctx
from tests.support import make_profile


def test_benchmark_records_consistent_numbers(built: StageContext) -> None:
    details = benchmark_stage.run(built).details
    latency = details["latency_ms"]
    assert details["method"] == "polygraphy-onnxrt"
    assert (details["batch"], details["iterations"]) == (1, built.profile.benchmark.iterations)
    assert 0 < latency["min"] <= latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert latency["min"] <= latency["mean"] <= latency["max"]
    assert details["throughput_ips"] == pytest.approx(details["batch"] * 1000 / latency["mean"])
    assert any(line.startswith("benchmark: p50") for line in ctx_logs(built))
    json.dumps(details, allow_nan=False)


def test_benchmark_needs_a_build(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="no build result"):
        benchmark_stage.run(make_ctx(make_profile(), tmp_path))


def _numbers(**latency: float) -> dict[str, Any]:
    base = {"p50": 2.0, "p90": 3.0, "p99": 4.0, "mean": 2.5, "min": 1.0, "max": 5.0}
    return {"method": "m", "latency_ms": {**base, **latency}, "throughput_ips": 400.0, "batch": 1}


def test_benchmark_number_checks() -> None:
    check_benchmark_numbers(_numbers())
    check_benchmark_numbers(_numbers(p50=1.0, p90=1.0, p99=1.0, mean=1.0, max=1.0))  # all equal is fine
    with pytest.raises(BenchmarkError, match="non-positive or non-finite"):
        check_benchmark_numbers(_numbers(min=0.0))
    with pytest.raises(BenchmarkError, match="non-positive or non-finite"):
        check_benchmark_numbers(_numbers(max=float("inf")))
    with pytest.raises(BenchmarkError, match="inconsistent"):
        check_benchmark_numbers(_numbers(p90=4.5))
    with pytest.raises(BenchmarkError, match="incomplete"):
        check_benchmark_numbers({"method": "m", "latency_ms": {"p50": 1.0}})

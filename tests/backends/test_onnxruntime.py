"""The ONNX Runtime (CPU) backend for real: portable optimized model, determinism, runner, benchmark."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

# While tests/backends has no __init__.py, pytest puts this folder on sys.path to import this file, and then
# tests/backends/tensorrt/ shadows the real `tensorrt` as a namespace package for every later test. Undo that.
_HERE = str(Path(__file__).resolve().parent)
while _HERE in sys.path:
    sys.path.remove(_HERE)

from builder.backends import onnxruntime as ort_backend  # noqa: E402 (after the sys.path fix above)
from builder.errors import EngineBuildError, HostEnvironmentError  # noqa: E402 (after the sys.path fix above)
from builder.pipeline.stage_types import ArtifactOut, BuildResult, StageContext  # noqa: E402 (after the sys.path fix above)
from builder.pipeline.stages import export as export_stage  # noqa: E402 (after the sys.path fix above)
from builder.profile import Precision  # noqa: E402 (after the sys.path fix above)
from builder.timing.summary import latency_summary  # noqa: E402 (after the sys.path fix above)
from tests.pipeline.stages.helpers import make_ctx, with_prior  # noqa: E402 (after the sys.path fix above)
from tests.support import make_profile  # noqa: E402 (after the sys.path fix above)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    ctx = make_ctx(make_profile(), tmp_path_factory.mktemp("ort"))
    return with_prior(ctx, export=export_stage.run(ctx))


def test_check_available_reports_versions() -> None:
    import onnxruntime

    facts = ort_backend.check_available(make_profile()).facts()
    assert facts["onnxruntime"] == onnxruntime.__version__
    assert "CPUExecutionProvider" in facts["providers"]


def test_check_available_refuses_fp16() -> None:
    with pytest.raises(HostEnvironmentError, match="FP32 and INT8 models only.*fp16") as info:
        ort_backend.check_available(make_profile(precision=Precision.FP16))
    assert info.value.hint


def test_build_is_portable_and_deterministic(exported: StageContext, tmp_path: Path) -> None:
    import onnx

    onnx_path = exported.workdir / "model.onnx"
    first = ort_backend.build(exported, onnx_path)
    assert [(a.path, a.kind) for a in first.artifacts] == [("model.ort.onnx", "model")]
    path = exported.workdir / "model.ort.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    assert {node.domain for node in model.graph.node} <= {"", "ai.onnx"}  # no ORT contrib or NCHWc ops
    assert first.details["nodes"]["optimized"] == len(model.graph.node) <= first.details["nodes"]["onnx"]
    second = ort_backend.build(make_ctx(exported.profile, tmp_path), onnx_path)
    assert (tmp_path / "build" / "model.ort.onnx").read_bytes() == path.read_bytes()
    assert second.details["model"]["sha256"] == first.details["model"]["sha256"]


def test_build_error_names_the_file(tmp_path: Path) -> None:
    ctx = make_ctx(make_profile(), tmp_path)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"this is not a protobuf")
    with pytest.raises(EngineBuildError, match="could not optimize .*broken.onnx") as info:
        ort_backend.build(ctx, broken)
    assert info.value.hint


def test_runner_matches_plain_onnxruntime(exported: StageContext) -> None:
    import onnxruntime

    ort_backend.build(exported, exported.workdir / "model.onnx")
    feed = np.random.default_rng(3).random((1, 3, 64, 64), dtype=np.float32)
    expected = onnxruntime.InferenceSession(str(exported.workdir / "model.onnx"), providers=["CPUExecutionProvider"])
    want = expected.run(None, {"images": feed})[0]
    with ort_backend.make_runner(exported.workdir / "model.ort.onnx", exported.profile) as runner:
        got = runner.infer({"images": feed})["output0"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_benchmark_numbers(exported: StageContext) -> None:
    ort_backend.build(exported, exported.workdir / "model.onnx")
    build = BuildResult(ArtifactOut("model.ort.onnx", "model"), "images", ort_backend.check_available(exported.profile))
    numbers = ort_backend.benchmark(exported, build)
    assert numbers["method"] == "polygraphy-onnxrt"
    assert (numbers["batch"], numbers["iterations"]) == (1, 3)
    latency = numbers["latency_ms"]
    assert set(latency) == {"p50", "p90", "p99", "mean", "min", "max"}
    assert 0 < latency["min"] <= latency["p50"] <= latency["p99"] <= latency["max"]


def test_latency_summary_matches_numpy() -> None:
    times = [3.0, 1.0, 2.0, 10.0, 4.0]
    summary = latency_summary(times, 4, method="x", cpu_count=2)
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    expected = {"p50": p50, "p90": p90, "p99": p99, "mean": np.mean(times), "min": 1.0, "max": 10.0}
    assert summary["latency_ms"] == expected
    assert summary["throughput_ips"] == pytest.approx(4 * 1000 / np.mean(times))
    assert (summary["method"], summary["batch"], summary["iterations"], summary["cpu_count"]) == ("x", 4, 5, 2)

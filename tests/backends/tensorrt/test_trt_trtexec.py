"""trtexec: locating it, its command line, running it, and parsing 8.6 / 10.x logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.backends.tensorrt import trtexec
from builder.backends.tensorrt.latency import fallback_reason, numbers_from_trtexec
from builder.backends.tensorrt.trtexec import find_trtexec, parse_trtexec_output, run_trtexec, trtexec_command
from builder.errors import BenchmarkError
from builder.profile import Backend, BatchSpec
from builder.timing.summary import check_benchmark_numbers
from tests.support import make_profile

DATA = Path(__file__).parent / "data"


def test_parse_86_static_log() -> None:
    parsed = parse_trtexec_output((DATA / "trtexec-8.6-static.txt").read_text())
    assert parsed["tensorrt"] == "8.6.1" and parsed["throughput_qps"] == 932.811
    assert parsed["latency_ms"] == {
        "min": 1.05267,
        "max": 1.10693,
        "mean": 1.0662,
        "median": 1.06494,
        "p50": 1.06494,
        "p90": 1.07422,
        "p99": 1.10693,
    }
    assert parsed["gpu_compute_ms"]["p99"] == 1.10693 and parsed["h2d_ms"]["max"] == 0.0
    assert parsed["enqueue_ms"]["p90"] == 0.0224609
    assert (parsed["total_host_walltime_s"], parsed["total_gpu_compute_s"]) == (0.0536015, 0.05331)


def test_parse_10x_dynamic_log_and_contract_numbers() -> None:
    parsed = parse_trtexec_output((DATA / "trtexec-10.x-dynamic.txt").read_text())
    assert parsed["tensorrt"] == "10.3.0" and parsed["latency_ms"]["p90"] == 1.41992
    numbers = numbers_from_trtexec(parsed, batch=4)
    assert numbers["method"] == "trtexec" and numbers["throughput_ips"] == pytest.approx(708.155 * 4)
    assert set(numbers["latency_ms"]) == {"p50", "p90", "p99", "mean", "min", "max"}
    check_benchmark_numbers({**numbers, "batch": 4})  # the benchmark stage's own consistency check


def test_older_style_lines_with_default_percentiles_and_version_banner_only() -> None:
    text = (
        "&&&& RUNNING TensorRT.trtexec [TensorRT v8502] # trtexec --loadEngine=m.plan\n"
        "[I] === Performance summary ===\n[I] Throughput: 130.298 qps\n"
        "[I] Latency: min = 5.38672 ms, max = 13.3664 ms, mean = 7.60628 ms, median = 7.16092 ms, "
        "percentile(90%) = 10.2996 ms, percentile(95%) = 10.8698 ms, percentile(99.9%) = 12.9675 ms\n"
    )
    parsed = parse_trtexec_output(text)
    assert (
        parsed["tensorrt"] == "8.5.2"
        and parsed["latency_ms"]["p95"] == 10.8698
        and parsed["latency_ms"]["p99_9"] == 12.9675
    )
    with pytest.raises(BenchmarkError, match=r"lacks \['p50', 'p99'\]"):
        numbers_from_trtexec(parsed, batch=1)


def test_logs_without_a_summary_are_errors() -> None:
    with pytest.raises(BenchmarkError, match="no performance summary"):
        parse_trtexec_output((DATA / "trtexec-10.x-header-engine-fails.txt").read_text())
    with pytest.raises(BenchmarkError, match="no Latency or Throughput"):
        parse_trtexec_output("[I] === Performance summary ===\n[I] Total Host Walltime: 3.0 s\n")


def test_command_line() -> None:
    plan = Path("/b/model.plan")
    assert trtexec_command("/opt/tensorrt/bin/trtexec", plan, iterations=50) == [
        "/opt/tensorrt/bin/trtexec",
        "--loadEngine=/b/model.plan",
        "--useCudaGraph",
        "--noDataTransfers",
        "--warmUp=200",
        "--iterations=50",
        "--duration=0",
        "--percentile=50,90,99",
    ]
    cmd = trtexec_command("trtexec", plan, iterations=100, input_shape=("images", (4, 3, 640, 640)))
    assert cmd[-1] == "--shapes=images:4x3x640x640"
    logged = (DATA / "trtexec-10.x-dynamic.txt").read_text().splitlines()[0]
    assert " ".join(cmd[1:]).replace("/b/model.plan", "") in logged.replace(
        "/artifacts/yolo11n-fp16-dynamic/builds/20260101T000000Z-89abcdef0123/model.plan", ""
    )


def _fake_trtexec(folder: Path, log: str, code: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tool = folder / "trtexec"
    tool.write_text(f"#!/bin/sh\ncat '{DATA / log}'\nexit {code}\n")
    tool.chmod(0o755)
    return tool


def test_run_and_find(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = _fake_trtexec(tmp_path / "good", "trtexec-8.6-static.txt", 0)
    monkeypatch.setenv("PATH", f"{good.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    assert find_trtexec() == str(good)
    output = run_trtexec([str(good), "--loadEngine=x"])
    assert parse_trtexec_output(output)["throughput_qps"] == 932.811
    bad = _fake_trtexec(tmp_path / "bad", "trtexec-10.x-header-engine-fails.txt", 1)
    with pytest.raises(BenchmarkError) as err:
        run_trtexec([str(bad)])
    assert "exit code 1" in err.value.message and "magicTag" in err.value.message and "FAILED" in err.value.message


def test_not_found_and_fallback_reasons(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(trtexec, "TRTEXEC_PATHS", (str(tmp_path / "nope"),))
    assert find_trtexec() is None
    profile = make_profile(backend=Backend.TENSORRT, batch=BatchSpec(1, 2, 4))
    assert "trtexec not found" in (fallback_reason(profile, None) or "")
    assert fallback_reason(profile, "/opt/tensorrt/bin/trtexec") is None
    from dataclasses import replace

    assert "version-compatible" in (fallback_reason(replace(profile, version_compatible=True), "/x/trtexec") or "")


def inference_loop(timing: trtexec.TrtexecTiming, run_ms: float) -> tuple[int, float]:
    """(timed runs, elapsed ms) of trtexec's ``inferenceLoop`` for runs of ``run_ms`` each, one stream.

    Transcribed from NVIDIA/TensorRT ``samples/common/sampleInference.cpp`` (v8.6.1 and v10.8.0, lines 974-993:
    ``for (i = 0; i < iterations + skip || durationMs < maxDurationMs; ++i)``, a run that ends before ``warmupMs``
    is a skipped warm-up run) and ``inferenceExecution`` (``maxDurationMs = duration * 1000 + warmupMs``).
    """
    max_duration_ms = timing.duration_s * 1000 + timing.warmup_ms
    elapsed, skip, i = 0.0, 0, 0
    while i < timing.iterations + skip or elapsed < max_duration_ms:
        elapsed += run_ms
        if elapsed < timing.warmup_ms:
            skip += 1
        i += 1
    return i - skip, elapsed


@pytest.mark.parametrize("run_ms", [0.5, 40.0, 450.0, 900.0])
def test_the_budget_flags_give_at_most_the_budget_and_at_least_five_runs(run_ms: float) -> None:
    budget_ms, floor = 3000.0, 5
    timed, elapsed = inference_loop(trtexec.trtexec_timing(50, 3.0), run_ms)
    assert timed >= floor
    assert elapsed <= max(budget_ms, floor * run_ms) + run_ms, "at most the budget unless 5 runs take longer"
    old_timed, old_elapsed = inference_loop(trtexec.TrtexecTiming(200, 50, 0), run_ms)  # --iterations=50 --duration=0
    if run_ms >= 450:
        assert old_elapsed > 7 * budget_ms and elapsed < old_elapsed / 4, "a fixed count cost ten times the budget"


def test_no_budget_lets_the_count_decide() -> None:
    timing = trtexec.trtexec_timing(50, 0)
    assert timing == trtexec.TrtexecTiming(200, 50, 0)
    assert inference_loop(timing, 0.5)[0] == 50 and inference_loop(timing, 900.0)[0] == 50


def test_command_line_with_a_budget_and_exported_times() -> None:
    plan = Path("/b/model.plan")
    cmd = trtexec_command("trtexec", plan, iterations=50, budget_s=3.0, times_file=Path("/s/times.json"))
    assert cmd[4:8] == ["--warmUp=200", "--iterations=5", "--duration=2.8", "--percentile=50,90,99"]
    assert cmd[-1] == "--exportTimes=/s/times.json"
    short = trtexec_command("trtexec", plan, iterations=3, budget_s=0.2)
    assert short[4:7] == ["--warmUp=100", "--iterations=3", "--duration=0.1"], "warm-up takes at most half"


def test_exported_times_are_read_and_bad_files_are_errors(tmp_path: Path) -> None:
    times = trtexec.read_exported_times(DATA / "trtexec-10.x-dynamic-times.json")
    assert len(times) == 100 and min(times) == 1.39453 and max(times) == 1.50098  # the log's Latency min / max
    for name, text in (
        ("empty.json", ""),
        ("wrong.json", '[{"computeMs": 1.0}]'),
        ("inf.json", '[{ "latencyMs" : inf }]'),
    ):
        (tmp_path / name).write_text(text)
        with pytest.raises(BenchmarkError, match="per-run times"):
            trtexec.read_exported_times(tmp_path / name)
    with pytest.raises(BenchmarkError, match="unreadable"):
        trtexec.read_exported_times(tmp_path / "missing.json")

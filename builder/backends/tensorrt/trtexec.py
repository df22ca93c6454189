"""Benchmarking with ``trtexec``: find it, build its command line, run it, parse its performance summary.

The summary format (``=== Performance summary ===`` then ``Throughput: … qps`` and ``<metric>: min = … ms,
max = …, mean = …, median = …, percentile(P%) = … ms`` lines) is the same in TensorRT 8.6 and 10.x
(``samples/common/sampleReporting.cpp``); ``--percentile=50,90,99`` picks the percentiles printed.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import BenchmarkError
from builder.timing.sampling import ROUNDS

TRTEXEC_PATHS = ("/opt/tensorrt/bin/trtexec", "/workspace/tensorrt/bin/trtexec")  # NGC TensorRT images
PERCENTILES = (50, 90, 99)
WARMUP_MS = 200  # trtexec warms up for a time, not a count (its default, sampleOptions.h defaultWarmUp)

_NUMBER = r"([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|inf|nan)"
_METRICS = {
    "Latency": "latency_ms",
    "Enqueue Time": "enqueue_ms",
    "H2D Latency": "h2d_ms",
    "GPU Compute Time": "gpu_compute_ms",
    "D2H Latency": "d2h_ms",
    "End-to-End Host Latency": "end_to_end_ms",
}


def find_trtexec() -> str | None:
    """``trtexec`` on PATH, else where NGC images put it; None when absent."""
    return shutil.which("trtexec") or next((p for p in TRTEXEC_PATHS if Path(p).is_file()), None)


@dataclass(frozen=True)
class TrtexecTiming:
    """trtexec's timing flags: ``--warmUp`` (ms), ``--iterations`` and ``--duration`` (s)."""

    warmup_ms: float
    iterations: int
    duration_s: float

    def flags(self) -> list[str]:
        return [f"--warmUp={self.warmup_ms:g}", f"--iterations={self.iterations}", f"--duration={self.duration_s:g}"]


def trtexec_timing(iterations: int, budget_s: float) -> TrtexecTiming:
    """The flags for ``benchmark.iterations`` / ``benchmark.budget_s``: at most the budget, at least a few runs.

    trtexec's ``inferenceLoop`` (``samples/common/sampleInference.cpp``, the same in 8.6.1 and 10.8.0) loops
    ``for (i = 0; i < iterations + skip || durationMs < maxDurationMs; ++i)`` with ``maxDurationMs = duration *
    1000 + warmUp`` counted from the start of the warm-up, and skips the runs that end inside the warm-up. So it
    stops when *both* the count and the time are reached: it cannot stop at whichever comes first.

    With a budget: ``--warmUp`` at most half of it (as :func:`builder.timing.sampling.timed_runs`),
    ``--iterations`` = ``min(iterations, ROUNDS)`` (the floor), ``--duration`` = the rest of the budget: about
    ``budget_s`` in all (more only when the floor's runs take longer), every run that fits is timed.
    Without a budget (0): ``--iterations=N --duration=0``, so the count decides (at least N runs).
    """
    if budget_s <= 0:
        return TrtexecTiming(WARMUP_MS, iterations, 0)
    warmup_ms = min(float(WARMUP_MS), budget_s * 1000 / 2)
    return TrtexecTiming(warmup_ms, min(iterations, ROUNDS), round(budget_s - warmup_ms / 1000, 3))


def trtexec_command(
    trtexec: str,
    plan: Path,
    *,
    iterations: int,
    budget_s: float = 0.0,
    input_shape: tuple[str, Sequence[int]] | None = None,
    times_file: Path | None = None,
    percentiles: Sequence[int] = PERCENTILES,
) -> list[str]:
    """The benchmark command: CUDA graphs, no host<->device copies, timing flags of :func:`trtexec_timing`.

    ``input_shape`` (name, NCHW) is needed for a dynamic-batch engine (the shape to time, e.g. the OPT one);
    ``times_file`` gets every timed run (``--exportTimes``, warm-up runs left out: ``exportJSONTrace`` in
    ``samples/common/sampleReporting.cpp``), read back by :func:`read_exported_times`.
    """
    cmd = [
        trtexec,
        f"--loadEngine={plan}",
        "--useCudaGraph",
        "--noDataTransfers",
        *trtexec_timing(iterations, budget_s).flags(),
        f"--percentile={','.join(str(p) for p in percentiles)}",
    ]
    if input_shape is not None:
        name, dims = input_shape
        cmd.append(f"--shapes={name}:{'x'.join(str(d) for d in dims)}")
    if times_file is not None:
        cmd.append(f"--exportTimes={times_file}")
    return cmd


def read_exported_times(path: Path) -> list[float]:
    """The ``latencyMs`` of every timed run in a ``--exportTimes`` file (a JSON list, one object per run).

    Raises:
        BenchmarkError: the file is missing or not that format.
    """
    try:
        runs = json.loads(path.read_text(encoding="utf-8"))
        return [float(run["latencyMs"]) for run in runs]
    except (OSError, ValueError, TypeError, KeyError) as err:
        raise BenchmarkError(
            f"trtexec's per-run times {path} are unreadable: {err}",
            hint="read the trtexec log in the build folder; this reader knows the TensorRT 8.6 and 10.x format",
        ) from err


def _perf_fields(text: str) -> dict[str, float]:
    fields: dict[str, float] = {}
    for match in re.finditer(r"(min|max|mean|median|percentile\(([\d.]+)%\))\s*=?\s*" + _NUMBER + r"\s*ms", text):
        name, pct, value = match.group(1), match.group(2), float(match.group(3))
        fields[f"p{_pct_name(pct)}" if pct else name] = value
    return fields


def _pct_name(text: str) -> str:
    number = float(text)
    return str(int(number)) if number.is_integer() else str(number).replace(".", "_")


def parse_trtexec_output(text: str) -> dict[str, Any]:
    """Parse the performance summary and version of a ``trtexec`` log.

    Returns ``{"tensorrt": "8.6.1", "throughput_qps": …, "latency_ms": {"min", "max", "mean", "median",
    "p50", "p90", "p99"}, "gpu_compute_ms": {…}, "enqueue_ms": {…}, …, "total_host_walltime_s": …,
    "total_gpu_compute_s": …}`` with the metrics the log has.

    Raises:
        BenchmarkError: no performance summary (trtexec failed before timing).
    """
    start = text.find("=== Performance summary ===")
    if start < 0:
        raise BenchmarkError(
            "trtexec printed no performance summary",
            hint="read the trtexec log in the build folder; the engine may not load with this TensorRT or GPU",
        )
    summary = text[start:]
    result: dict[str, Any] = {}
    version = re.search(r"TensorRT version:\s*([\d.]+)", text) or re.search(r"\[TensorRT v(\d+)\]", text)
    if version:
        result["tensorrt"] = version.group(1) if "." in version.group(1) else _version_from_number(version.group(1))
    throughput = re.search(r"Throughput:\s*" + _NUMBER + r"\s*qps", summary)
    if throughput:
        result["throughput_qps"] = float(throughput.group(1))
    for line in summary.splitlines():
        body = re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip())  # drop "[08/21/2023-10:00:00] [I] "
        label, sep, rest = body.partition(":")
        if sep and label.strip() in _METRICS:
            result[_METRICS[label.strip()]] = _perf_fields(rest)
    for label, key in (
        ("Total Host Walltime", "total_host_walltime_s"),
        ("Total GPU Compute Time", "total_gpu_compute_s"),
    ):
        match = re.search(re.escape(label) + r":\s*" + _NUMBER + r"\s*s\b", summary)
        if match:
            result[key] = float(match.group(1))
    if "latency_ms" not in result or "throughput_qps" not in result:
        raise BenchmarkError(
            "trtexec's performance summary has no Latency or Throughput line",
            hint="check the trtexec version; this parser knows the TensorRT 8.6 and 10.x format",
        )
    return result


def _version_from_number(number: str) -> str:
    """``8601`` -> ``8.6.1``; ``100300`` -> ``10.3.0`` (trtexec's banner, ``[TensorRT v8601]``)."""
    if len(number) >= 6:  # MMmmpp (10.x+)
        return f"{int(number[:-4])}.{int(number[-4:-2])}.{int(number[-2:])}"
    return f"{int(number[:-3])}.{int(number[-3:-2])}.{int(number[-2:])}"


def run_trtexec(cmd: Sequence[str], timeout_s: float = 600) -> str:
    """Run trtexec and return its output.

    Raises:
        BenchmarkError: it failed or timed out, with the last lines of its log.
    """
    try:
        done = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as err:
        raise BenchmarkError(
            f"trtexec ran longer than {timeout_s:.0f} s", hint="lower `benchmark.budget_s` or `benchmark.iterations`"
        ) from err
    output = done.stdout + done.stderr
    if done.returncode != 0:
        tail = "\n    ".join(output.strip().splitlines()[-12:])
        raise BenchmarkError(
            f"trtexec failed (exit code {done.returncode}):\n    {tail}",
            hint="run the same command by hand in the image (`make shell`) to see the full log",
        )
    return output

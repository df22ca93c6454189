"""Benchmark sampling under a time budget, and the noise facts a latency comparison needs.

A fixed iteration count makes the benchmark's cost grow with the model (a 1280-pixel model took 11 s of a 19 s
build); :func:`timed_runs` stops at the iteration count or the time budget, whichever comes first. The samples
are then cut into :data:`ROUNDS` consecutive rounds: the spread of the round medians, the machine's load and the
threads available are recorded beside the percentiles, so the nightly can tell a regression from noise
(:func:`builder.ops.drift.compare_manifests`).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

ROUNDS = 5  # rounds the samples are cut into; also the fewest samples a budget may leave


def timed_runs(
    call: Callable[[], float],
    *,
    warmup: int,
    iterations: int,
    budget_s: float,
    clock: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Run ``call`` ``warmup`` times, then collect its timings (ms, as it returns them).

    Stops after ``iterations`` samples or once ``budget_s`` seconds (warm-up included) are spent, but not before
    ``min(iterations, ROUNDS)`` samples; ``budget_s`` 0 means no budget.
    """
    start = clock()
    for _ in range(warmup):
        call()
        if budget_s and clock() - start > budget_s / 2:  # warm-up may take at most half the budget
            break
    times: list[float] = []
    floor = min(iterations, ROUNDS)
    while len(times) < iterations:
        times.append(call())
        if budget_s and len(times) >= floor and clock() - start >= budget_s:
            break
    return times


def noise_facts(times_ms: list[float], *, budget_s: float, iterations: int) -> dict[str, Any]:
    """What the comparison needs to know about the noise: samples, round medians and their relative spread,
    the 1-minute load per CPU and the CPUs this process may use."""
    size = max(1, len(times_ms) // ROUNDS)
    rounds = [statistics.median(times_ms[i : i + size]) for i in range(0, size * min(ROUNDS, len(times_ms)), size)]
    median = statistics.median(times_ms) if times_ms else 0.0
    spread = (max(rounds) - min(rounds)) / median if rounds and median > 0 else 0.0
    cpus, load = _usable_cpus(), _load_1m()
    return {
        "samples": len(times_ms),
        "budget_s": budget_s,
        "max_iterations": iterations,
        "round_p50_ms": [round(value, 4) for value in rounds],
        "p50_spread": round(spread, 4),
        "load_per_cpu": round(load / cpus, 3) if load is not None else None,
        "threads": cpus,
    }


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _load_1m() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None

"""bench/task_int8.py (the per-task INT8 rows of `make bench`): its profiles load through the real profile loader as
the shipped task profiles with the gate opened, and a row judges the task metric's drop against the INT8 profile's
gate and names the metric. (The measurement itself: `bench/run.py --only-task-int8`, run by hand; docs/tasks.md.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.task_int8 import TASKS, profiles, verdict
from builder.profile import load_profile
from tests.support import REPO


def test_each_bench_profile_is_its_shipped_profile_with_the_gate_opened(tmp_path: Path) -> None:
    for path in (REPO / "profiles").glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    for name, text in profiles(TASKS, samples=8).items():
        (tmp_path / f"{name}.yaml").write_text(text)
    for task in TASKS:
        for kind in ("fp32", "int8"):
            bench = load_profile(f"bench-{task}-{kind}", tmp_path)
            shipped = load_profile(f"cpu-{kind}-{task}", REPO / "profiles")
            assert bench.task == task and bench.precision == shipped.precision and bench.model == shipped.model
            assert bench.accuracy is not None and shipped.accuracy is not None
            assert bench.accuracy.data == shipped.accuracy.data and bench.accuracy.samples == 8
            assert (bench.accuracy.max_map_drop, bench.accuracy.min_map50_95) == (1.0, None)


@pytest.mark.parametrize(("drop", "met"), [(0.004, True), (0.05, False)])
def test_a_row_judges_the_tasks_metric_drop_against_the_int8_gate(drop: float, met: bool) -> None:
    evaluate = {
        "metric": "top-1 accuracy",
        "map50_95_drop": drop,
        "reference": {"top1": 0.9877},
        "artifact": {"top1": 0.9877 - drop, "images": 243},
    }
    row = verdict("classify", 64, fp32_ms=1.2, int8_ms=0.8, evaluate=evaluate, max_drop=0.03)
    assert row.met is met and f"top-1 accuracy drop {drop:+.4f} (reference 0.9877, 243 images)" in row.measured
    assert row.measured.startswith("1.50x faster") and "drop <= 0.03" in row.target
    assert verdict("classify", 64, 1.0, 1.1, evaluate, 0.03).met is False  # INT8 slower than FP32

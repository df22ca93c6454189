"""The whole stage chain for real on a dynamic batch (min 1, opt 2, max 3) at imgsz 64."""

from __future__ import annotations

import json

import pytest

from builder.pipeline.stage_types import StageContext
from builder.pipeline.stages import benchmark, verify
from builder.pipeline.stages import build as build_stage
from builder.pipeline.stages import export as export_stage
from builder.profile import BatchSpec
from tests.pipeline.stages.helpers import make_ctx, with_prior
from tests.support import make_profile


@pytest.fixture(scope="module")
def dynamic(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    ctx = make_ctx(make_profile(batch=BatchSpec(1, 2, 3)), tmp_path_factory.mktemp("dynamic"))
    ctx = with_prior(ctx, export=export_stage.run(ctx))
    return with_prior(ctx, build=build_stage.run(ctx))


def test_dynamic_export_has_a_symbolic_batch_and_checks_min_and_max(dynamic: StageContext) -> None:
    details = dynamic.prior["export"].details
    assert details["input"]["shape"][0] == "batch"
    assert details["outputs"][0]["shape"][0] == "batch"
    assert details["dynamic_batch"] is True
    assert details["export_check"]["batches"] == [1, 3]
    assert details["shapes_at_imgsz"] == {"images": [-1, 3, 64, 64], "output0": [-1, 84, 84]}


def test_dynamic_metadata_marks_the_batch(dynamic: StageContext) -> None:
    meta = json.loads((dynamic.workdir / "metadata.json").read_text())
    assert meta["batch"] == {"min": 1, "opt": 2, "max": 3}
    assert meta["inputs"][0]["shape"] == [-1, 3, 64, 64]
    assert meta["outputs"][0]["shape"] == [-1, 84, 84]


def test_dynamic_verify_runs_opt_min_and_max(dynamic: StageContext) -> None:
    details = verify.run(dynamic).details
    batches = [i["batch"] for i in details["tensors"]["iterations"]]
    assert batches == [2] * 4 + [1] * 4 + [3] * 4
    rows = details["detections"]["images"]
    assert [(r["input"], r["batch"]) for r in rows] == [
        ("image bus.jpg", 2),
        ("image zidane.jpg", 2),
        ("image bus.jpg", 1),
        ("image zidane.jpg", 1),
        ("image bus.jpg", 3),
        ("image zidane.jpg", 3),
    ]
    assert all(r["passed"] for r in rows)


def test_dynamic_benchmark_uses_batch_opt(dynamic: StageContext) -> None:
    details = benchmark.run(dynamic).details
    assert details["batch"] == 2
    assert details["throughput_ips"] == pytest.approx(2 * 1000 / details["latency_ms"]["mean"])

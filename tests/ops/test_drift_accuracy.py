"""Nightly drift on the mAP gate's numbers (the evaluate stage's details) between two good builds."""

from __future__ import annotations

from typing import Any

import pytest

from builder.ops.drift import MAP_DRIFT, Severity
from tests.ops.test_drift import _by_key, _pair, compare_manifests


def _with_map(manifest: dict[str, Any], artifact: float, reference: float) -> dict[str, Any]:
    details = {
        "artifact": {"map50_95": artifact},
        "reference": {"map50_95": reference},
        "map50_95_drop": round(reference - artifact, 4),
    }
    manifest["stages"] = [s for s in manifest["stages"] if s["name"] != "evaluate"]
    manifest["stages"].append({"name": "evaluate", "status": "ok", "details": details})
    return manifest


def test_unchanged_map_is_no_change() -> None:
    old, new = _pair()
    report = compare_manifests(_with_map(old, 0.91, 0.917), _with_map(new, 0.91, 0.917))
    assert not any(c.area == "accuracy" for c in report.changes)


def test_a_map_loss_beyond_half_a_point_is_drift_naming_both_numbers() -> None:
    old, new = _pair()
    report = compare_manifests(_with_map(old, 0.91, 0.917), _with_map(new, 0.90, 0.917))
    change = _by_key(report)["evaluate.artifact.map50_95"]
    assert change.severity is Severity.DRIFT and (change.old, change.new) == (0.91, 0.90)
    assert _by_key(report)["evaluate.map50_95_drop"].severity is Severity.DRIFT
    assert report.verdict == "drift" and not report.ok


def test_small_or_better_changes_are_informational() -> None:
    old, new = _pair()
    small = 0.91 - MAP_DRIFT / 2
    report = compare_manifests(_with_map(old, 0.91, 0.917), _with_map(new, small, 0.917))
    assert _by_key(report)["evaluate.artifact.map50_95"].severity is Severity.INFO
    better = compare_manifests(_with_map(old, 0.91, 0.917), _with_map(new, 0.93, 0.917))
    assert "better" in _by_key(better)["evaluate.artifact.map50_95"].reason
    plain, gated = _pair()
    added = compare_manifests(plain, _with_map(gated, 0.9, 0.917))
    assert _by_key(added)["evaluate.artifact.map50_95"].reason == "mAP50-95 gate added"


# Each task's validator metric, as its scorer names it (builder/yolo/tasks), and the key its results carry it under.
TASK_METRICS = [
    ("segment", "mask mAP50-95", "map50_95"),
    ("pose", "pose (OKS) mAP50-95", "map50_95"),
    ("obb", "OBB mAP50-95", "map50_95"),
    ("classify", "top-1 accuracy", "top1"),
]


def _task_evaluate(task: str, metric: str, artifact: float, reference: float) -> dict[str, Any]:
    """The evaluate stage's details for a task build, from the stage's own report (``gate_report``) of two
    ``TaskResult``s: the gated metric is ``map50_95`` of the result (classify: top-1)."""
    from builder.pipeline.stages.evaluate import gate_report
    from builder.profile.model import AccuracySpec
    from builder.yolo.tasks.common import TaskResult

    def result(value: float) -> TaskResult:
        # classify's pair is (top-5, top-1); the others' (metric at IoU 0.5, metric at 0.50:0.95)
        return TaskResult(task, metric, min(1.0, value + 0.05), value, {"circle": value}, 20, 40)

    return gate_report(AccuracySpec("shapes/data.yaml"), result(reference), result(artifact), task)


def _with_evaluate(manifest: dict[str, Any], details: dict[str, Any]) -> dict[str, Any]:
    manifest["stages"] = [s for s in manifest["stages"] if s["name"] != "evaluate"]
    manifest["stages"].append({"name": "evaluate", "status": "ok", "details": details})
    return manifest


@pytest.mark.parametrize(("task", "metric", "key"), TASK_METRICS)
def test_a_drop_in_the_tasks_own_metric_is_drift_reported_by_name(task: str, metric: str, key: str) -> None:
    old, new = _pair()
    report = compare_manifests(
        _with_evaluate(old, _task_evaluate(task, metric, 0.95, 0.955)),
        _with_evaluate(new, _task_evaluate(task, metric, 0.90, 0.955)),
    )
    change = _by_key(report)[f"evaluate.artifact.{key}"]
    assert change.severity is Severity.DRIFT and (change.old, change.new) == (0.95, 0.90)
    assert change.reason.startswith(f"{metric} worse by 0.0500")
    drop = _by_key(report)["evaluate.map50_95_drop"]
    assert drop.severity is Severity.DRIFT and metric in drop.reason
    assert report.verdict == "drift" and not report.ok


@pytest.mark.parametrize(("task", "metric", "key"), TASK_METRICS)
def test_the_tasks_metric_within_half_a_point_is_informational(task: str, metric: str, key: str) -> None:
    old, new = _pair()
    report = compare_manifests(
        _with_evaluate(old, _task_evaluate(task, metric, 0.95, 0.955)),
        _with_evaluate(new, _task_evaluate(task, metric, 0.948, 0.955)),
    )
    assert _by_key(report)[f"evaluate.artifact.{key}"].severity is Severity.INFO
    assert report.ok

"""Nightly drift on the mAP gate's numbers (the evaluate stage's details) between two good builds."""

from __future__ import annotations

from typing import Any

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
    assert _by_key(added)["evaluate.artifact.map50_95"].reason == "mAP gate added"

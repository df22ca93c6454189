"""Latency history per profile: earlier nightly reports plus the good builds still on disk."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from builder.record.layout import MANIFEST_NAME, ArtifactLayout, read_json_or_none
from builder.record.manifest_read import ManifestView, view_or_none

REPORT_JSON = "report.json"
MAX_POINTS = 60


def latency_point(manifest: ManifestView, *, status: str = "ok") -> dict[str, Any]:
    """One history point from a manifest: build ID, time, status and p50/p90/p99 (ms, or None)."""
    bench = manifest.benchmark
    latency = bench.latency_ms if bench else None
    return {
        "at": manifest.build_id[:15],
        "build_id": manifest.build_id,
        "status": status,
        "batch": bench.batch if bench else None,
        **{pct: latency.percentile(pct) if latency else None for pct in ("p50", "p90", "p99")},
    }


def failed_point(stamp: str, build_id: str | None, reason: str) -> dict[str, Any]:
    """A night whose build failed: no latency, the reason as a tooltip."""
    return {
        "at": (build_id or stamp)[:15],
        "build_id": build_id or "",
        "status": "failed",
        "reason": reason,
        "batch": None,
        "p50": None,
        "p90": None,
        "p99": None,
    }


def collect_history(
    reports_dir: Path, artifacts: Path, profiles: Iterable[str], tonight: Mapping[str, dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Per profile, the points of earlier reports, good builds on disk and tonight, oldest first.

    Points are keyed by build ID (failed nights without a build by their time), so a build seen
    by several sources appears once; at most :data:`MAX_POINTS` newest points are kept.
    """
    history: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in profiles}
    for name in history:
        for build in ArtifactLayout(artifacts, name).good_builds():
            manifest = view_or_none(build / MANIFEST_NAME)  # a damaged build only shortens the plot
            if manifest:
                point = latency_point(manifest)
                history[name][_key(point)] = point
    for report in _earlier_reports(reports_dir):
        for point_list_name, points in (report.get("history") or {}).items():
            if point_list_name in history:
                for point in points:
                    if isinstance(point, dict) and "at" in point:
                        history[point_list_name][_key(point)] = point
    for name, point in tonight.items():
        history.setdefault(name, {})[_key(point)] = point
    return {
        name: sorted(points.values(), key=lambda p: (p["at"], p["build_id"]))[-MAX_POINTS:]
        for name, points in history.items()
    }


def _earlier_reports(reports_dir: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(reports_dir.glob(f"*/{REPORT_JSON}")) if reports_dir.is_dir() else []:
        data = read_json_or_none(path)  # bounded, regular files only; None when damaged: it only shortens the plot
        if isinstance(data, dict):
            found.append(data)
    return found


def _key(point: Mapping[str, Any]) -> str:
    return str(point.get("build_id") or f"night-{point.get('at')}")

"""Report rendering: Markdown, self-contained HTML with inline SVG, JSON."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from builder.ops.report import render_html, render_markdown, write_reports
from builder.ops.svgplot import latency_svg


def _points():
    return [
        {"at": "20250101T020000", "build_id": "b1", "status": "ok", "p50": 10.0, "p90": 11.0, "p99": 13.0},
        {
            "at": "20250102T020000",
            "build_id": "",
            "status": "failed",
            "reason": "verify: output0 <bad> & worse",
            "p50": None,
            "p90": None,
            "p99": None,
        },
        {"at": "20250103T020000", "build_id": "b3", "status": "ok", "p50": 12.5, "p90": 14.0, "p99": 20.0},
    ]


def _data(ok=False):
    change = {
        "area": "latency",
        "key": "latency_ms.p50",
        "old": 10.0,
        "new": 12.5,
        "severity": "fail",
        "reason": "regressed 10.000 -> 12.500 ms (+25.0%) > 20%",
    }
    return {
        "schema_version": 1,
        "stamp": "20250103T020000Z",
        "ok": ok,
        "failures": [] if ok else ["tiny: regression: latency_ms.p50: 10 -> 12.5 (regressed ...)"],
        "settings": {"latency_threshold": 0.2, "keep": 5, "keep_failed": 5, "runner": "bare"},
        "image": {"status": "skipped", "message": "no image rebuild"},
        "profiles": [
            {
                "profile": "tiny",
                "result": "regression",
                "reasons": ["latency_ms.p50: 10 -> 12.5"],
                "new_build": "b3",
                "previous_build": "b1",
                "latency_ms": {"p50": 12.5},
                "changes": [change],
                "pruned": ["builds/b0"],
            },
            {
                "profile": "<script>alert(1)</script>",
                "result": "baseline",
                "reasons": [],
                "new_build": "c1",
                "previous_build": None,
                "latency_ms": None,
                "changes": [],
                "pruned": [],
            },
        ],  # fmt: skip
        "history": {"tiny": _points(), "<script>alert(1)</script>": []},
    }


def test_html_is_self_contained_with_one_svg_per_profile():
    html = render_html(_data())
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<svg") == 2 and html.count("</svg>") == 2
    lowered = html.lower()
    for forbidden in ("http://", "https://", "<script", "<link", "src=", "@import", "url("):
        assert forbidden not in lowered, forbidden
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_svg_plots_each_percentile_marks_failed_nights_and_parses_as_xml():
    svg = latency_svg(_points(), title="tiny")
    root = ET.fromstring(svg)
    assert root.tag == "svg"
    polylines = root.findall("polyline")
    assert len(polylines) == 3  # p50, p90, p99: one segment each (the failed night has no value)
    assert len(root.findall("circle")) == 6
    titles = [t.text for t in root.iter("title")]
    assert any("build failed: verify: output0 <bad> & worse" in t for t in titles)
    assert any(t == "b3: p50 12.500 ms" for t in titles)


def test_svg_points_are_ordered_and_scaled_higher_latency_higher_on_screen():
    root = ET.fromstring(latency_svg(_points()))
    p50 = [c for c in root.findall("circle") if c.get("fill") == "#1f77b4"]
    (x1, y1), (x2, y2) = [(float(c.get("cx")), float(c.get("cy"))) for c in p50]
    assert x1 < x2 and y2 < y1  # 12.5 ms is drawn above 10 ms


def test_svg_without_values_says_so():
    assert "no latency recorded yet" in latency_svg([])


def test_markdown_lists_results_reasons_and_changes():
    md = render_markdown(_data())
    assert md.startswith("# Nightly report 20250103T020000Z")
    assert "**FAILED: 1 of 2 profile(s) drifted, regressed or failed**" in md
    assert "| tiny | regression | b3 | b1 | 12.500 | latency_ms.p50: 10 -> 12.5 |" in md
    assert "- **fail** `latency_ms.p50`: 10 -> 12.5 (regressed 10.000 -> 12.500 ms (+25.0%) > 20%)" in md
    assert "retention removed: builds/b0" in md
    assert "OK:" in render_markdown(_data(ok=True))


def test_write_reports_writes_three_readable_files(tmp_path):
    paths = write_reports(tmp_path / "night", _data())
    assert json.loads(paths["json"].read_text())["stamp"] == "20250103T020000Z"
    assert paths["markdown"].read_text().startswith("# Nightly report")
    assert "<svg" in paths["html"].read_text()
    assert all(oct(p.stat().st_mode & 0o777) == "0o644" for p in paths.values())
    assert not [p for p in (tmp_path / "night").iterdir() if re.match(r"^\.", p.name)]

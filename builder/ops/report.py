"""The nightly report: ``report.json`` (the data), ``report.md`` and a self-contained ``report.html``.

The HTML has inline CSS and one inline SVG latency plot per profile; it loads
nothing from anywhere (no scripts, no stylesheets, no images, no fonts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from builder.common.atomic import write_text_atomic
from builder.ops.history import REPORT_JSON
from builder.ops.svgplot import latency_svg
from builder.record.manifest import write_json_atomic

REPORT_MD, REPORT_HTML = "report.md", "report.html"
RESULT_COLOURS = {
    "no drift": "#2e7d32",
    "baseline": "#1565c0",
    "drift": "#ef6c00",
    "regression": "#c62828",
    "failed": "#c62828",
}
CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1100px; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; font-size: 14px; }
th { background: #f3f3f3; }
.badge { color: #fff; border-radius: 4px; padding: 1px 6px; font-weight: bold; }
.sev-fail { color: #c62828; font-weight: bold; } .sev-drift { color: #ef6c00; font-weight: bold; } \
.sev-info { color: #666; }
code { font-size: 13px; }
table { table-layout: auto; width: 100%; } td { overflow-wrap: anywhere; }
td.why { min-width: 16em; }
.skipped { color: #666; }
"""


def write_reports(folder: Path, data: Mapping[str, Any]) -> dict[str, Path]:
    """Write ``report.json``, ``report.md`` and ``report.html`` into ``folder`` (each atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / REPORT_JSON, data)
    write_text_atomic(folder / REPORT_MD, render_markdown(data))
    write_text_atomic(folder / REPORT_HTML, render_html(data))
    return {"json": folder / REPORT_JSON, "markdown": folder / REPORT_MD, "html": folder / REPORT_HTML}


#: the order profiles are listed in: what failed first, what was skipped last
RESULT_ORDER = {"regression": 0, "failed": 1, "drift": 2, "baseline": 3, "no drift": 4, "skipped": 5}


def ordered_profiles(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The profile entries, failures first (regression, failed, drift), then the good ones, skipped last; the
    night's own order within each group."""
    items = list(data.get("profiles", []))
    return sorted(items, key=lambda item: RESULT_ORDER.get(str(item.get("result")), 3))


def render_markdown(data: Mapping[str, Any]) -> str:
    """The Markdown report."""
    out = [f"# Nightly report {data.get('stamp')}", "", f"**{_headline(data)}**", "", f"Image: {_image_line(data)}", ""]
    out += ["| profile | result | new build | previous build | p50 ms | reason |", "|---|---|---|---|---|---|"]
    for item in ordered_profiles(data):
        p50 = (item.get("latency_ms") or {}).get("p50")
        reason = "; ".join(item.get("reasons") or []) or "-"
        cells = [
            item["profile"],
            item["result"],
            item.get("new_build") or "-",
            item.get("previous_build") or "-",
            f"{p50:.3f}" if p50 else "-",
            reason,
        ]
        out.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    for item in ordered_profiles(data):
        out += ["", f"## {item['profile']}: {item['result']}", ""]
        changes = item.get("changes") or []
        if not changes:
            out.append(
                "No differences from the previous good build."
                if item.get("previous_build")
                else "No previous good build to compare with."
            )
        for change in changes:
            out.append(
                f"- **{change['severity']}** `{change['key']}`: "
                f"{_short(change['old'])} -> {_short(change['new'])} ({change['reason']})"
            )
        if item.get("previous_note"):
            out.append(f"- previous build: {item['previous_note']}")
        if item.get("latency_comparison"):
            out.append(f"- latency compared: {latency_comparison_line(item['latency_comparison'])}")
        if item.get("pruned"):
            out.append(f"- retention removed: {', '.join(item['pruned'])}")
    settings = data.get("settings") or {}
    out += ["", f"Settings: latency threshold {settings.get('latency_threshold', 0):.0%} (p50), "
            f"keep {settings.get('keep')} good / "
            f"{settings.get('keep_failed')} failed builds, runner {settings.get('runner')}."]  # fmt: skip
    return "\n".join(out) + "\n"


def render_html(data: Mapping[str, Any]) -> str:
    """The self-contained HTML report with one inline SVG latency plot per profile."""
    title = f"Nightly report {data.get('stamp')}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p><strong>{escape(_headline(data))}</strong></p>",
        f"<p>Image: {escape(_image_line(data))}</p>",
    ]
    rows = []
    for item in ordered_profiles(data):
        p50 = (item.get("latency_ms") or {}).get("p50")
        cells = [
            f'<a href="#{escape(_anchor(item["profile"]))}">{escape(item["profile"])}</a>',
            _badge(item["result"]),
            f"<code>{escape(item.get('new_build') or '-')}</code>",
            f"<code>{escape(item.get('previous_build') or '-')}</code>",
            escape(f"{p50:.3f}" if p50 else "-"),
        ]
        why = escape("; ".join(item.get("reasons") or []) or "-")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + f'<td class="why">{why}</td></tr>')
    header = "".join(f"<th>{h}</th>" for h in ("profile", "result", "new build", "previous build", "p50 ms", "reason"))
    body.append(f"<table><tr>{header}</tr>{''.join(rows)}</table>")
    history = data.get("history") or {}
    for item in ordered_profiles(data):
        body.append(
            f'<h2 id="{escape(_anchor(item["profile"]))}">{escape(item["profile"])} {_badge(item["result"])}</h2>'
        )
        body.append(latency_svg(history.get(item["profile"], []), title=f"{item['profile']}: latency per night (ms)"))
        body.append(_changes_table(item))
    css = f"<style>{CSS}</style>"
    head = (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n{css}\n</head>"
    )
    return head + "\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"


def _changes_table(item: Mapping[str, Any]) -> str:
    changes = item.get("changes") or []
    if not changes:
        text = (
            "No differences from the previous good build."
            if item.get("previous_build")
            else "No previous good build to compare with."
        )
        parts = [f"<p>{escape(text)}</p>"]
    else:
        rows = "".join(
            f'<tr><td class="sev-{escape(c["severity"])}">{escape(c["severity"])}</td>'
            f"<td><code>{escape(c['key'])}</code></td>"
            f"<td>{_digest(c['old'])}</td><td>{_digest(c['new'])}</td>"
            f'<td class="why">{escape(c["reason"])}</td></tr>'
            for c in changes
        )
        parts = [
            f"<table><tr><th>severity</th><th>what</th><th>previous</th><th>new</th><th>why</th></tr>{rows}</table>"
        ]
    if item.get("previous_note"):
        parts.append(f"<p>Previous build: {escape(item['previous_note'])}</p>")
    if item.get("latency_comparison"):
        parts.append(f"<p>Latency compared: {escape(latency_comparison_line(item['latency_comparison']))}</p>")
    if item.get("pruned"):
        parts.append(f"<p>Retention removed: {escape(', '.join(item['pruned']))}</p>")
    return "\n".join(parts)


def latency_comparison_line(comparison: Mapping[str, Any]) -> str:
    """What the night compared to judge latency (``latency_comparison`` of a profile's entry)."""
    shas = comparison.get("model_sha256") or {}
    models = f"model {_short(shas.get('previous'))} -> {_short(shas.get('new'))}"
    if comparison.get("kind") == "interleaved":
        return (
            f"{models}, timed side by side in {len(comparison.get('measured', {}).get('ratios') or [])} interleaved "
            f"rounds: ratio {comparison.get('median_ratio')}, noise {comparison.get('noise', 0):.1%}, "
            f"limit {comparison.get('limit', 0):.0%}: {comparison.get('verdict')}"
        )
    return f"{models} ({comparison.get('kind')}): {comparison.get('why', '')}"


def _headline(data: Mapping[str, Any]) -> str:
    """One line: OK or FAILED, counting the profiles this night built (the skipped ones are counted apart)."""
    profiles = [p for p in data.get("profiles", []) if p["result"] != "skipped"]
    skipped = len(data.get("profiles", [])) - len(profiles)
    tail = f", {skipped} skipped" if skipped else ""
    bad = [p for p in profiles if p["result"] in ("drift", "regression", "failed")]
    if data.get("ok"):
        return f"OK: {len(profiles)} profile(s) built, no drift, no regression{tail}"
    return f"FAILED: {len(bad)} of {len(profiles)} profile(s) drifted, regressed or failed{tail}" + (
        "; " + "; ".join(data.get("failures", [])[:1]) if not bad else ""
    )


def _image_line(data: Mapping[str, Any]) -> str:
    image = data.get("image") or {}
    return f"{image.get('status', '?')}: {image.get('message', '')}".rstrip(": ")


def _badge(result: str) -> str:
    return f'<span class="badge" style="background:{RESULT_COLOURS.get(result, "#555")}">{escape(result)}</span>'


def _anchor(name: str) -> str:
    return "p-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in name)


def _short(value: Any) -> str:
    """A value for a table cell: every sha256 in it cut to its first 12 hex digits, at most 80 characters."""
    text = "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text[:12]
    text = _SHA256.sub(lambda m: m.group(0)[:12] + "…", text)
    return text if len(text) <= 80 else text[:77] + "..."


def _digest(value: Any) -> str:
    """HTML of a change's old/new value: shortened (:func:`_short`), the whole value as its tooltip."""
    full = "-" if value is None else str(value)
    return f'<span title="{escape(full)}">{escape(_short(value))}</span>'


_SHA256 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")

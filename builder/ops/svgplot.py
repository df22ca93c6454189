"""An inline SVG line plot of latency across nights: p50 / p90 / p99, failed nights marked.

Plain SVG elements only (no script, no external references), so it can be
embedded in a self-contained HTML report. Each point has a ``<title>`` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

SERIES = (("p50", "#1f77b4", ""), ("p90", "#ff7f0e", "6 3"), ("p99", "#d62728", "2 3"))
WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 44


def latency_svg(points: Sequence[Mapping[str, Any]], *, title: str = "latency (ms)") -> str:
    """The SVG text for ``points`` (oldest first; each with ``at``, ``build_id``, ``status``,
    ``p50``/``p90``/``p99``)."""
    values = [p[s] for p in points for s, _, _ in SERIES if isinstance(p.get(s), (int, float))]
    head = (
        f'<svg class="latency" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(title)}">'
    )
    parts = [head, f'<text x="{LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    if not values:
        parts.append(
            f'<text x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" font-size="13">'
            "no latency recorded yet</text>"
        )
        return "\n".join(parts + ["</svg>"])
    top_value, ticks = _ticks(max(values))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(index: int) -> float:
        return LEFT + (plot_w / 2 if len(points) == 1 else plot_w * index / (len(points) - 1))

    def y_of(value: float) -> float:
        return TOP + plot_h * (1 - value / top_value)

    for tick in ticks:
        y = y_of(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{tick:g}</text>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" stroke="#333"/>')
    label_every = max(1, math.ceil(len(points) / 10))
    for index, point in enumerate(points):
        if index % label_every == 0 or index == len(points) - 1:
            # the first and last labels grow inwards: centred on the plot's edge, half of one is cut off
            anchor = "middle"
            if len(points) > 1 and index in (0, len(points) - 1):
                anchor = "start" if index == 0 else "end"
            parts.append(
                f'<text x="{x_of(index):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}" font-size="10">'
                f"{escape(_day(point))}</text>"
            )
        if point.get("status") == "failed":
            tip = escape(f"{point.get('at')}: build failed: {point.get('reason', '')}")
            parts.append(
                f'<text x="{x_of(index):.1f}" y="{TOP + plot_h - 4}" text-anchor="middle" fill="#d62728" '
                f'font-size="14">×<title>{tip}</title></text>'
            )
    for name, colour, dash in SERIES:
        parts += _series(points, name, colour, dash, x_of, y_of)
    for offset, (name, colour, dash) in enumerate(SERIES):
        x = WIDTH - RIGHT - 200 + offset * 66
        parts.append(
            f'<line x1="{x}" y1="12" x2="{x + 20}" y2="12" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{dash}"/>'
        )
        parts.append(f'<text x="{x + 24}" y="16" font-size="11">{name}</text>')
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="11">'
        "night (build date, UTC)</text>"
    )
    return "\n".join(parts + ["</svg>"])


def _series(points: Sequence[Mapping[str, Any]], name: str, colour: str, dash: str, x_of: Any, y_of: Any) -> list[str]:
    """One polyline over the nights that have a value (failed nights are bridged), one dot per value."""
    coords, dots = [], []
    for index, point in enumerate(points):
        value = point.get(name)
        if isinstance(value, (int, float)):
            x, y = x_of(index), y_of(value)
            coords.append(f"{x:.1f},{y:.1f}")
            tip = escape(f"{point.get('build_id')}: {name} {value:.3f} ms")
            dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{tip}</title></circle>')
    line = (
        f'<polyline fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}" '
        f'points="{" ".join(coords)}"/>'
    )
    return ([line] if len(coords) > 1 else []) + dots


def _ticks(maximum: float) -> tuple[float, list[float]]:
    """A rounded top value and 4-6 evenly spaced ticks from 0."""
    raw = max(maximum, 1e-9) * 1.1 / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    count = max(1, math.ceil(maximum * 1.05 / step))
    return step * count, [round(step * i, 10) for i in range(count + 1)]


def _day(point: Mapping[str, Any]) -> str:
    at = str(point.get("at") or "")
    return f"{at[4:6]}-{at[6:8]} {at[9:11]}:{at[11:13]}" if len(at) >= 13 else at

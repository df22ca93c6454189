"""Live progress of farm builds (one line per profile and change) and the summary table.

Nodes report their stage to a :class:`ProgressBoard` (a Ray actor the driver creates); the driver polls it
and prints a line whenever a profile's node or stage changes: ``profile  node  GPU/pool  stage  elapsed``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


class ProgressBoard:
    """Latest stage per profile, and how many attempts started (a retry on another node adds one)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def update(self, profile: str, node_id: str, ip: str, label: str, stage: str) -> None:
        row = self.rows.setdefault(profile, {"attempts": 0})
        if stage == "starting":
            row["attempts"] += 1
        row.update(node_id=node_id, ip=ip, label=label, stage=stage)

    def snapshot(self) -> bytes:
        return json.dumps(self.rows).encode()


class ProgressPrinter:
    """Prints one line per change of a profile's node or stage."""

    def __init__(self, log: Callable[[str], None], width: int) -> None:
        self.log, self.width = log, width
        self.started = time.monotonic()
        self.seen: dict[str, tuple[str, str, int]] = {}

    def show(self, rows: dict[str, dict[str, Any]]) -> None:
        for profile, row in sorted(rows.items()):
            state = (str(row.get("node_id", "")), str(row.get("stage", "")), int(row.get("attempts", 0)))
            previous = self.seen.get(profile)
            if state == previous:
                continue
            if previous and state[2] > previous[2]:
                self.log(f"RETRY {profile}: attempt {state[2]} on another node (the previous one failed)")
            self.seen[profile] = state
            self.line(profile, f"{row.get('ip', '?')}/{state[0][:8]}", str(row.get("label", "")), state[1])

    def line(self, profile: str, node: str, label: str, stage: str) -> None:
        elapsed = time.monotonic() - self.started
        self.log(f"[farm] {profile:<{self.width}}  {node:<24} {label:<16} {stage:<10} {elapsed:6.1f}s")


@dataclass(frozen=True)
class FarmResult:
    """What the farm did for one profile."""

    profile: str
    status: str  # built | up to date | already published | failed | no-go | cancelled
    node: str = ""
    label: str = ""
    seconds: float = 0.0
    build_dir: str = ""
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("built", "up to date", "already published")


def summary_table(results: Sequence[FarmResult]) -> list[str]:
    """Fixed-width lines: profile, status, node, GPU/pool, seconds, build folder or reason."""
    width = max([7, *(len(r.profile) for r in results)])
    lines = [f"{'profile':<{width}}  {'status':<17} {'node':<24} {'GPU/pool':<16} {'seconds':>7}  build or reason"]
    for r in results:
        lines.append(
            f"{r.profile:<{width}}  {r.status:<17} {r.node:<24} {r.label:<16} {r.seconds:7.1f}  {r.build_dir or r.message}"
        )
    return lines

"""Quiet build output: one progress line per stage on the terminal, the full log in a file (``-v``: all live).

A cold build prints hundreds of lines (Polygraphy dumps, ultralytics hints, an image build's pip output). The
launcher's sink goes through :class:`ProgressSink`: every line is written to
``<artifacts>/<profile>/logs/<UTC time>.log``; the terminal gets the stage results (``[export] ok in 4.2s``),
the outcome lines, every note, warning or error, unless ``verbose``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

#: lines shown without -v: a stage's result (not its start), the outcome, warnings and errors
SHOWN = re.compile(
    r"^(\[[a-z][a-z_-]+\] (?!started\b)\S"  # [stage] ok in 1.2s / FAILED after 3.0s (not Polygraphy's [I] / [W])
    r"|(BUILT|UP-TO-DATE|WARNING|NOTE|ERROR|TIP|published|up to date|interrupted|starting|image |building |built )"
    r"|.*\b(Traceback|Error:))"
)


def log_path(artifacts: Path, profile: str, now: datetime | None = None) -> Path:
    """``<artifacts>/<profile>/logs/<UTC time>.log`` (the published build folders stay as their checksums say)."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    return artifacts / profile / "logs" / f"{stamp}.log"


class ProgressSink:
    """A line sink for the launcher: everything to the log file; the terminal gets :data:`SHOWN` lines (or all)."""

    def __init__(self, path: Path, *, verbose: bool = False, out: Callable[[str], None] = print) -> None:
        self.path, self.verbose, self._out = path, verbose, out
        self._file: TextIO | None = None

    def __call__(self, line: str) -> None:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write(line + "\n")
        self._file.flush()
        if self.verbose or SHOWN.match(line):
            self._out(line)

    def close(self) -> None:
        """Close the file and say where the full log is (once something was written)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            if not self.verbose:
                self._out(f"full log: {self.path} (-v shows it live)")


_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")  # the classic builder's step lines (docker SDK, API build)


class PhaseLog:
    """``[image] …`` lines with the seconds since the image work began: shown without ``-v`` (:data:`SHOWN`), so a
    cold ``make engine`` says what it does while the base is made (debootstrap) and the image built."""

    HEARTBEAT_S = 30.0  # a step that prints for longer than this gets a "still running" line

    def __init__(self, log: Callable[[str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._log, self._clock = log, clock
        self._start = self._said = clock()
        self._step = ""

    def elapsed(self) -> float:
        return self._clock() - self._start

    def say(self, what: str) -> None:
        self._said = self._clock()
        self._log(f"[image] {what} ({self.elapsed():.0f}s)")

    def build_lines(self, line: str) -> None:
        """A docker build output line: to the log as it is, plus a shown ``[image] step N/M`` line for each step
        (and a ``still running`` line when a step's output goes on for more than :data:`HEARTBEAT_S`)."""
        self._log(line)
        step = _STEP.match(line)
        if step:
            number, total, what = step.groups()
            what = what if len(what) <= 60 else what[:57] + "..."
            self._step = f"step {number}/{total}"
            self.say(f"{self._step}: {what}")
        elif self._step and self._clock() - self._said >= self.HEARTBEAT_S:
            self.say(f"{self._step} still running")

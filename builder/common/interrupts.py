"""SIGINT and SIGTERM during a build: clean up, say truthfully what was published, exit 128 + the signal.

A Python signal handler runs between two bytecodes of the main thread, which may be deep inside foreign code
that called back into Python (``import torch`` runs Python from C++ through pybind11). An exception raised there
unwinds into C++ and ends in ``terminate called after throwing an instance of 'pybind11::error_already_set'``
(SIGABRT, no cleanup). So the handler here never raises: it runs the registered cleanups itself (they report what
is left on disk), prints the ERROR and TIP lines, and ends the process with ``os._exit``, which unwinds nothing.

Where an interruption would tear a pair of steps apart (the rename into ``builds/`` and the switch of ``latest``,
moving a failed build's record), the code runs them inside :func:`deferred`: a signal received there is acted on
when the block ends, so ``latest`` is never left half-switched and a build is never both published and failed.

:func:`handling` installs the handler (main thread only; elsewhere it does nothing); :func:`on_abort` registers
a cleanup for the length of a block. The newest cleanup runs first; the first one that returns a message states
what was published.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

from builder.errors import BuilderError, ExitCode, error_lines

#: a cleanup: undo what it owns, return (message, hint) about what is published, or None to let an older one say it
Cleanup = Callable[[str], "tuple[str, str] | None"]
SIGNALS = (signal.SIGINT, signal.SIGTERM)
DEFAULT = ("nothing was published; builds/ and latest are unchanged", "run the build again")


class Interrupted(BuilderError):
    """SIGINT or SIGTERM ended a build (exit 128 + the signal's number: 130, 143)."""

    exit_code = ExitCode.INTERRUPTED


class _State:
    def __init__(self) -> None:
        self.cleanups: list[Cleanup] = []
        self.deferred = 0
        self.pending: int | None = None
        self.aborting = False
        self.outcome: tuple[str, str] | None = None  # what is published, once something is


_STATE = _State()


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Handle SIGINT and SIGTERM as described above for the length of the block (main thread only).

    A signal the process was started ignoring (``nohup``, a background job's SIGINT) stays ignored.
    """
    try:
        previous = install()
    except ValueError:  # not the main thread: signals are not delivered here anyway
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def install() -> dict[int, Any]:
    """Install the handler (see :func:`handling`); return the handlers it replaced. Main thread only."""
    previous: dict[int, Any] = {}
    for signum in SIGNALS:
        current = signal.getsignal(signum)
        if current is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, _handle)
    return previous


@contextlib.contextmanager
def on_abort(cleanup: Cleanup) -> Iterator[None]:
    """Run ``cleanup`` if a signal ends the process during the block."""
    _STATE.cleanups.append(cleanup)
    try:
        yield
    finally:
        _STATE.cleanups.remove(cleanup)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Steps that must not be torn apart: a signal received inside is acted on when the outermost block ends."""
    _STATE.deferred += 1
    try:
        yield
    finally:
        _STATE.deferred -= 1
        if _STATE.deferred == 0 and _STATE.pending is not None:
            abort(_STATE.pending)


def note_outcome(message: str, hint: str) -> None:
    """What a signal from now on should report when no cleanup says more (e.g. after the build was published)."""
    _STATE.outcome = (message, hint)


def _handle(signum: int, frame: FrameType | None) -> None:
    if _STATE.aborting:
        return
    if _STATE.deferred:
        _STATE.pending = _STATE.pending or signum
        return
    abort(signum)


def abort(signum: int) -> None:
    """Run the cleanups, print ERROR and TIP, and end the process with 128 + ``signum`` (never returns)."""
    _STATE.aborting = True
    name = signal.Signals(signum).name
    said: tuple[str, str] | None = None
    problems = []
    for cleanup in reversed(list(_STATE.cleanups)):
        try:
            result = cleanup(name)  # every cleanup runs; the newest one with something to say says it
            said = said or result
        except Exception as exc:  # a cleanup that fails must not hide the others or the message
            problems.append(f"{type(exc).__name__}: {exc}")
    message, hint = said or _STATE.outcome or DEFAULT
    if problems:
        message += f" (cleanup incomplete: {'; '.join(problems)})"
    err = Interrupted(f"interrupted by {name}: {message}", hint=hint)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        sys.stderr.write("".join(f"{line}\n" for line in error_lines(err)))
        sys.stderr.flush()
    os._exit(128 + signum)

"""The fleet: several profiles (``make engines``), one container per GPU in parallel, CPU profiles in turn.

Profiles this host cannot build are said (``SKIPPED <name>: <reason>``) before any image work
(:mod:`builder.host.fleet_plan`). TensorRT profiles run in parallel when the host has more than one GPU, each
container pinned to one free GPU; otherwise, and for CPU profiles, builds run one after another. Each build's
lines go through its own sink (quiet, with the full log in a file: :class:`builder.host.progress.ProgressSink`),
prefixed ``[<profile> gpu<N>]`` while several run at once. Ctrl-C stops every running container.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from builder.errors import BuilderError, ExitCode, error_lines
from builder.host.docker_engine import Container, ContainerEngine, ImageInfo
from builder.host.fleet_plan import FleetPlan, Skip
from builder.host.image import ensure_image
from builder.host.launch import Sink, launch, say, say_error, stop_quietly
from builder.host.spec import ContainerSpec, HostSettings, flavour_for_profile


class ClosableSink(Protocol):
    """A build's line sink that is closed when the build ends (a log file)."""

    def __call__(self, line: str) -> None: ...

    def close(self) -> None: ...


LogSinks = Callable[[str, Sink], ClosableSink]  # (profile name, terminal sink) -> that build's sink


class TrackingEngine:
    """Wraps an engine and remembers the containers it started, so they can all be stopped."""

    def __init__(self, engine: ContainerEngine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self.started: list[Container] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def run(self, spec: ContainerSpec, name: str | None = None) -> Container:
        container = self._engine.run(spec, name=name)
        with self._lock:
            self.started.append(container)
        return container

    def image_info(self, ref: str) -> ImageInfo | None:
        return self._engine.image_info(ref)

    def stop_all(self) -> None:
        with self._lock:
            running = list(self.started)
        for container in running:
            stop_quietly(container)


def launch_many(
    plan: FleetPlan,
    settings: HostSettings,
    engine: ContainerEngine,
    sink: Sink = say,
    gpu_indices: Sequence[int] | None = None,
    error_sink: Sink = say_error,
    logs: LogSinks | None = None,
) -> int:
    """Build the plan's profiles; say the skipped ones first; return the fleet's exit code.

    The code: 130 after Ctrl-C, else the first failed build's code, else 3 when profiles the user named were
    skipped (:meth:`FleetPlan.missing_error`), else 0 (:mod:`builder.host.fleet_plan` has the rule).

    Args:
        plan: what to build and what this host cannot (:func:`builder.host.fleet_plan.plan_fleet`).
        gpu_indices: GPUs to spread TensorRT builds over (default: ``builder.machine.gpu.list_gpus()``).
        error_sink: receives each failed profile's ERROR / TIP lines (standard error by default).
        logs: makes each profile's sink from (profile name, terminal sink), e.g. a quiet
            :class:`builder.host.progress.ProgressSink` with the full log in a file; None: every line to ``sink``.
    """
    for skip in plan.skipped:
        sink(skip.line())
    gpu_flavours = {ref: flavour_for_profile(p) for ref, p in plan.build if flavour_for_profile(p) != "cpu"}
    gpu_refs = [ref for ref, _ in plan.build if ref in gpu_flavours]
    cpu_refs = [ref for ref, _ in plan.build if ref not in gpu_flavours]
    names = {ref: p.name for ref, p in plan.build}
    make_sink = logs or _passthrough
    if gpu_indices is None:
        from builder.machine.gpu import list_gpus

        gpu_indices = [g.index for g in list_gpus()]
    results: dict[str, int] = {}
    if len(gpu_indices) > 1 and len(gpu_refs) > 1:
        for flavour in sorted(set(gpu_flavours.values())):
            first = names[next(ref for ref in gpu_refs if gpu_flavours[ref] == flavour)]
            with _closing(make_sink(first, _prefixed(sink, f"[{first}] ", threading.Lock()))) as image_sink:
                ensure_image(flavour, engine, image_sink, ref=settings.image)
        results.update(_parallel(gpu_refs, names, settings, engine, list(gpu_indices), sink, error_sink, make_sink))
    else:
        cpu_refs = gpu_refs + cpu_refs
    for ref in cpu_refs:
        if ExitCode.INTERRUPTED in results.values():
            break
        with _closing(make_sink(names[ref], sink)) as build_sink:
            results[names[ref]] = _guarded(ref, settings, engine, build_sink, error_sink)
    code = summarize(results, sink, plan.skipped)
    missing = plan.missing_error()
    if code == 0 and missing is not None:
        for line in error_lines(missing):
            error_sink(line)
        return int(missing.exit_code)
    return code


def summarize(results: Mapping[str, int], sink: Sink, skipped: Sequence[Skip] = ()) -> int:
    """Print one line per profile; the first non-zero code (130 wins), else 0 (skipped profiles do not count)."""
    sink("summary:")
    for ref, code in results.items():
        sink(f"  {ref}: {'ok' if code == 0 else f'FAILED (exit {code})'}")
    for skip in skipped:
        sink(f"  {skip.name}: SKIPPED ({skip.reason})")
    codes = list(results.values())
    if ExitCode.INTERRUPTED in codes:
        return int(ExitCode.INTERRUPTED)
    return next((code for code in codes if code != 0), 0)


class _Passthrough:
    """The sink of a build when no log files are wanted: every line to the terminal sink."""

    def __init__(self, out: Sink) -> None:
        self._out = out

    def __call__(self, line: str) -> None:
        self._out(line)

    def close(self) -> None:
        """Nothing to close."""


def _passthrough(name: str, out: Sink) -> _Passthrough:
    return _Passthrough(out)


@contextmanager
def _closing(build_sink: ClosableSink) -> Iterator[ClosableSink]:
    try:
        yield build_sink
    finally:
        build_sink.close()


def _prefixed(to: Sink, prefix: str, lock: threading.Lock) -> Sink:
    def write(line: str) -> None:
        with lock:
            to(f"{prefix}{line}")

    return write


def _guarded(ref: str | Path, settings: HostSettings, engine: ContainerEngine, sink: Sink, error_sink: Sink) -> int:
    """``launch``, with a user-facing error written as ERROR/TIP lines and turned into its exit code."""
    try:
        return launch(ref, settings, engine, sink, error_sink)
    except BuilderError as err:
        for line in error_lines(err):
            error_sink(line)
        return int(err.exit_code)


def _parallel(
    refs: Sequence[str],
    names: Mapping[str, str],
    settings: HostSettings,
    engine: ContainerEngine,
    gpus: list[int],
    sink: Sink,
    error_sink: Sink,
    make_sink: LogSinks,
) -> dict[str, int]:
    tracker = TrackingEngine(engine)
    free: queue.Queue[int] = queue.Queue()
    for index in gpus:
        free.put(index)
    print_lock = threading.Lock()

    def job(ref: str) -> int:
        index = free.get()
        prefix = f"[{names[ref]} gpu{index}] "
        try:
            with _closing(make_sink(names[ref], _prefixed(sink, prefix, print_lock))) as build_sink:
                build_settings = replace(settings, gpus=str(index))
                return _guarded(ref, build_settings, tracker, build_sink, _prefixed(error_sink, prefix, print_lock))
        finally:
            free.put(index)

    results: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=len(gpus), thread_name_prefix="engine") as pool:
        futures: dict[Future[int], str] = {pool.submit(job, ref): ref for ref in refs}
        try:
            pending = set(futures)
            while pending:
                _, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
        except KeyboardInterrupt:
            sink("interrupted: stopping every build container")
            tracker.stop_all()
            for future in futures:
                future.cancel()
            wait(set(futures))
            return {names[ref]: int(ExitCode.INTERRUPTED) for ref in futures.values()}
        for future, ref in futures.items():
            results[names[ref]] = future.result()
    return results

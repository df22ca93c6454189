"""The fleet: several profiles (``make engines``), one container per GPU in parallel, CPU profiles in turn.

TensorRT profiles run in parallel when the host has more than one GPU, each
container pinned to one free GPU; otherwise, and for CPU profiles, builds run
one after another.  Ctrl-C stops every running container.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path
from typing import Any

from builder.errors import BuilderError, ExitCode, error_lines
from builder.host.docker_engine import Container, ContainerEngine, ImageInfo
from builder.host.image import ensure_image
from builder.host.launch import Sink, launch, resolve_profile, say, say_error, stop_quietly
from builder.host.spec import ContainerSpec, HostSettings, flavour_for_backend


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
    profile_refs: Sequence[str | Path],
    settings: HostSettings,
    engine: ContainerEngine,
    sink: Sink = say,
    gpu_indices: Sequence[int] | None = None,
    error_sink: Sink = say_error,
) -> int:
    """Build every profile; return 0 when all succeeded (or were up to date), else the first failure's code.

    Args:
        gpu_indices: GPUs to spread TensorRT builds over (default: ``builder.gpu.list_gpus()``).
        error_sink: receives each failed profile's ERROR / TIP lines (standard error by default).

    Raises:
        BuilderError: a profile that cannot be loaded (checked for all before anything runs).
    """
    loaded = [(ref, resolve_profile(ref, settings.profiles_dir)[0]) for ref in profile_refs]
    gpu_refs = [ref for ref, p in loaded if flavour_for_backend(p.backend) == "trt"]
    cpu_refs = [ref for ref, p in loaded if flavour_for_backend(p.backend) != "trt"]
    if gpu_indices is None:
        from builder.gpu import list_gpus

        gpu_indices = [g.index for g in list_gpus()]
    results: dict[str, int] = {}
    if len(gpu_indices) > 1 and len(gpu_refs) > 1:
        ensure_image("trt", engine, sink, ref=settings.image)
        results.update(_parallel(gpu_refs, settings, engine, list(gpu_indices), sink, error_sink))
    else:
        cpu_refs = gpu_refs + cpu_refs
    for ref in cpu_refs:
        if ExitCode.INTERRUPTED in results.values():
            break
        results[str(ref)] = _guarded(ref, settings, engine, sink, error_sink)
    return summarize(results, sink)


def summarize(results: Mapping[str, int], sink: Sink) -> int:
    """Print one line per profile; the first non-zero code (130 wins), else 0."""
    sink("summary:")
    for ref, code in results.items():
        sink(f"  {ref}: {'ok' if code == 0 else f'FAILED (exit {code})'}")
    codes = list(results.values())
    if ExitCode.INTERRUPTED in codes:
        return int(ExitCode.INTERRUPTED)
    return next((code for code in codes if code != 0), 0)


def _guarded(ref: str | Path, settings: HostSettings, engine: ContainerEngine, sink: Sink, error_sink: Sink) -> int:
    """``launch``, with a user-facing error written as ERROR/TIP lines and turned into its exit code."""
    try:
        return launch(ref, settings, engine, sink, error_sink)
    except BuilderError as err:
        for line in error_lines(err):
            error_sink(line)
        return int(err.exit_code)


def _parallel(
    refs: Sequence[str | Path],
    settings: HostSettings,
    engine: ContainerEngine,
    gpus: list[int],
    sink: Sink,
    error_sink: Sink,
) -> dict[str, int]:
    tracker = TrackingEngine(engine)
    free: queue.Queue[int] = queue.Queue()
    for index in gpus:
        free.put(index)
    print_lock = threading.Lock()

    def job(ref: str | Path) -> int:
        index = free.get()
        name = Path(str(ref)).stem

        def prefixed(line: str, to: Sink = sink) -> None:
            with print_lock:
                to(f"[{name} gpu{index}] {line}")

        def prefixed_error(line: str) -> None:
            prefixed(line, error_sink)

        try:
            return _guarded(ref, replace(settings, gpus=str(index)), tracker, prefixed, prefixed_error)
        finally:
            free.put(index)

    results: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=len(gpus), thread_name_prefix="engine") as pool:
        futures: dict[Future[int], str] = {pool.submit(job, ref): str(ref) for ref in refs}
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
            return {ref: int(ExitCode.INTERRUPTED) for ref in futures.values()}
        for future, ref in futures.items():
            results[ref] = future.result()
    return results

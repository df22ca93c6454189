"""Build one profile in a container: up-to-date check on the host, run, stream logs, report.

``launch`` computes the build key on the host with the same functions the
container uses (profile, weights, the image's dependency set and base, GPU), so an up-to-date build
returns at once without starting a container.  Otherwise it runs the hardened
container of :func:`builder.host.spec.container_spec`, streams its log, and
on Ctrl-C / SIGTERM stops and removes it: the container side publishes
atomically, so nothing partial appears under ``builds/``.
"""

from __future__ import annotations

import signal
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import Any

from builder.errors import BuilderError, ExitCode, error_lines
from builder.host.docker_engine import Container, ContainerEngine, ImageInfo
from builder.host.image import ensure_image, provenance_environment
from builder.host.settings import prepare_host_dirs
from builder.host.spec import HostSettings, container_spec, flavour_for_profile, gpu_requests, to_host_paths
from builder.profile import Profile
from builder.record.manifest_read import ErrorView, ManifestView

STOP_TIMEOUT_S = 10
Sink = Callable[[str], None]


def say(line: str) -> None:
    print(line, flush=True)


def say_error(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def launch(
    profile_ref: str | Path,
    settings: HostSettings,
    engine: ContainerEngine,
    sink: Sink = say,
    error_sink: Sink = say_error,
) -> int:
    """Build ``profile_ref`` in a container unless an up-to-date build exists.

    Args:
        profile_ref: a profile name in ``settings.profiles_dir`` or the path of a ``.yaml`` file.
        settings: host folders, user, image and GPU choice (:func:`builder.host.settings.host_settings`).
        engine: the container engine (``DockerEngine()``, or a fake in tests).
        sink: receives every output line (the container's log and the launcher's own lines).
        error_sink: receives the closing ERROR / TIP lines of a failed or interrupted build (standard error by
            default), in the format of :func:`builder.errors.error_lines`.

    Returns:
        0 when the build is up to date or succeeded, else the container's exit code
        (:class:`builder.errors.ExitCode`; 130 after Ctrl-C).

    Raises:
        BuilderError: before any container starts (bad profile, missing weights, no image, unwritable folders).
    """
    from builder.record.layout import ArtifactLayout

    profile, profile_file = resolve_profile(profile_ref, settings.profiles_dir)
    flavour = flavour_for_profile(profile)
    image = ensure_image(flavour, engine, sink, ref=settings.image)
    settings = replace(
        settings,
        profiles_dir=profile_file.parent.absolute(),
        image=image.ref,
        image_id=image.id,
        environment={**provenance_environment(image), **settings.environment},
    )
    layout = ArtifactLayout(settings.artifacts_dir, profile.name)
    key = host_build_key(profile, settings, image)
    latest = layout.latest_manifest()
    if not settings.force and latest and latest.succeeded and latest.build_key == key:
        sink(f"UP-TO-DATE {profile.name}: {layout.latest_dir()} (build key {key[:12]}; no container started)")
        return int(ExitCode.OK)
    prepare_host_dirs(settings, profile.name, sink)
    spec = container_spec(profile_file.stem, profile.backend, settings, flavour)
    failed_before = _failed_builds(layout)
    sink(f"starting {image.ref} ({image.id[:19]}) for {profile.name}")
    name = spec_name(profile.name)
    code = run_container(engine, name, spec, lambda line: sink(to_host_paths(line, spec.mounts)))
    if code == ExitCode.INTERRUPTED:
        failure = BuilderError(
            f"build interrupted; container {name} stopped and removed, nothing was published",
            hint="run the same command again when ready (an up-to-date build is reused)",
        )
    elif code != ExitCode.OK:
        failure = build_failure(layout, failed_before, code)
    else:
        return code
    for line in error_lines(failure):
        error_sink(line)
    return code


def resolve_profile(profile_ref: str | Path, profiles_dir: Path) -> tuple[Profile, Path]:
    """The profile and its file; the file's folder is what the container sees at /profiles
    (``extends`` only names profiles of the same folder).

    Raises:
        ProfileError: the profile is missing or invalid.
    """
    from builder.profile import load_profile

    profile = load_profile(profile_ref, profiles_dir)
    return profile, Path(profile.source).absolute()


def host_build_key(profile: Profile, settings: HostSettings, image: ImageInfo) -> str:
    """The build key the container would compute for ``profile`` in ``image`` on the chosen GPUs."""
    from builder.host.image import image_key_identity
    from builder.record.buildkey import build_key_for

    def chosen_gpus() -> list[Any]:
        from builder.machine.gpu import list_gpus

        gpus = list_gpus()
        (request,) = gpu_requests(settings.gpus)  # also rejects a malformed --gpus before anything starts
        return [g for g in gpus if str(g.index) in request.device_ids] if request.device_ids else gpus

    return build_key_for(
        profile, settings.models_dir, image.id, chosen_gpus, environment_id=image_key_identity(image)
    ).key


def spec_name(profile_name: str) -> str:
    """A unique container name: ``ef-<profile>-<8 hex>``."""
    return f"ef-{profile_name}-{uuid.uuid4().hex[:8]}"


def run_container(engine: ContainerEngine, name: str, spec: Any, sink: Sink) -> int:
    """Run ``spec``, stream its log to ``sink``, and always remove the container.

    Ctrl-C or SIGTERM stops it (SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_S`) and returns 130.
    """
    container = engine.run(spec, name=name)
    try:
        with _interrupts_raised():
            for line in container.log_lines():
                sink(line)
            return container.wait()
    except KeyboardInterrupt:
        sink(f"interrupted: stopping container {name} (nothing is published from an interrupted build)")
        with _interrupts_ignored():
            stop_quietly(container)
        return int(ExitCode.INTERRUPTED)
    finally:
        with _interrupts_ignored():
            container.remove()


def stop_quietly(container: Container) -> None:
    """Stop ``container``; a container that is already gone is fine."""
    try:
        container.stop(timeout=STOP_TIMEOUT_S)
    except Exception as err:  # the engine may have lost it already; removal follows anyway
        print(f"note: stopping {container.id[:12]}: {err}", file=sys.stderr)


def build_failure(layout: Any, failed_before: set[str], code: int) -> BuilderError:
    """What failed, and where, from the failed build's manifest (if this run wrote one); the container's exit
    code stays the launcher's return value."""
    manifest: ManifestView | None = layout.newest_failed_manifest()
    if manifest is None or manifest.build_id in failed_before:
        return BuilderError(
            f"the build container exited with code {code}{_signal_note(code)}; no failed-build manifest was written",
            hint="read the container log above; exit codes are listed in the README",
        )
    error = manifest.error or ErrorView(None, None, None)
    failed = next((s for s in manifest.stages if s.status == "failed"), None)
    stage = error.stage or (failed.name if failed else None) or "unknown"
    message = error.message or (failed.error if failed else None) or "no message recorded"
    record = f"{layout.failed_dir / manifest.build_id}/manifest.json"
    hint = error.hint or "read the container log above"
    return BuilderError(
        f"build of {layout.profile} failed in stage {stage!r} (exit {code}): {message}",
        hint=f"{hint} (the failed build's record: {record})",
    )


def _failed_builds(layout: Any) -> set[str]:
    return {p.name for p in layout.failed_dir.iterdir()} if layout.failed_dir.is_dir() else set()


def _signal_note(code: int) -> str:
    if code == 137:
        return " (killed: out of memory, or `docker kill`)"
    return f" (signal {code - 128})" if 128 < code < 160 else ""


@contextmanager
def _interrupts_raised() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Let cleanup finish even if Ctrl-C is pressed again (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

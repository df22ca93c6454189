"""How the nightly builds: in this process (``--bare``) or in Docker, and how it rebuilds the image.

Each runner turns a profile reference into a :class:`BuildAttempt` and
reports failures as attempts (never raises a BuilderError), so one broken
profile does not stop the night. The Docker runner and the image step are the
seams to the host side (``builder.host``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from builder.common.jsonable import jsonable
from builder.errors import BuilderError
from builder.ops.nightly import BuildAttempt, BuildRunner, Remeasure
from builder.profile import Profile
from builder.record.layout import ArtifactLayout


def bare_runner(
    profiles_dir: Path, artifacts: Path, models: Path, cache_dir: Path | None, *, log: Callable[[str], None] = print
) -> BuildRunner:
    """Forced builds in this process with ``builder.pipeline.run.run_build`` (no Docker)."""

    def run(ref: str) -> BuildAttempt:
        from builder.pipeline.run import BuildSettings, run_build
        from builder.profile import load_profile

        try:
            profile = load_profile(ref, profiles_dir)
        except BuilderError as err:
            return BuildAttempt(ref, None, err.message)
        settings = BuildSettings(
            artifacts=artifacts, models=models, cache_dir=cache_dir, force=True, wait=True,
            argv=("python", "-m", "builder", "nightly", "--bare", "--profiles", ref), log=log,
        )  # fmt: skip
        try:
            outcome = run_build(profile, settings)
        except BuilderError as err:
            return BuildAttempt(profile.name, None, err.message, newest_failed(ArtifactLayout(artifacts, profile.name)))
        return BuildAttempt(profile.name, outcome.build_dir)

    return run


def docker_runner(
    profiles_dir: Path,
    artifacts: Path,
    models: Path,
    cache_dir: Path,
    *,
    log: Callable[[str], None] = print,
    verbose: bool = False,
) -> BuildRunner:
    """SEAM (host side): forced builds in the image through ``builder.host.launch.launch``.

    Quiet as ``make engine``: ``log`` gets a line per stage and the outcome, each build's full log goes to
    ``<artifacts>/<profile>/logs/`` (:class:`builder.host.progress.ProgressSink`); ``verbose`` shows all of it.
    """
    from builder.host import launch as host_launch
    from builder.host.docker_engine import DockerEngine
    from builder.host.progress import ProgressSink, log_path
    from builder.host.settings import host_settings

    engine: Any = None

    def run(ref: str) -> BuildAttempt:
        nonlocal engine
        from builder.profile import load_profile

        try:
            profile = load_profile(ref, profiles_dir)
            engine = engine or DockerEngine()
            settings = host_settings(profiles_dir, models, artifacts, cache_dir, force=True)
            sink = ProgressSink(log_path(settings.artifacts_dir, profile.name), verbose=verbose, out=log)
            try:
                code = host_launch.launch(ref, settings, engine, sink)
            finally:
                sink.close()
        except BuilderError as err:
            return BuildAttempt(ref, None, err.message)
        layout = ArtifactLayout(artifacts, profile.name)
        if code == 0 and layout.latest_dir() is not None:
            return BuildAttempt(profile.name, layout.latest_dir())
        failed = newest_failed(layout)
        failed_manifest = layout.newest_failed_manifest()
        message = failed_manifest.error.message if failed_manifest and failed_manifest.error else None
        return BuildAttempt(profile.name, None, message or f"build container exited with code {code}", failed)

    return run


def bare_remeasure() -> Remeasure:
    """Time two builds' models side by side in this process (``--bare``: the backend is importable here)."""

    def remeasure(profile: Profile, previous: Path, new: Path) -> Mapping[str, Any]:
        from builder.timing.latency_ab import measure_interleaved

        return measure_interleaved(profile, previous, new)

    return remeasure


def docker_remeasure(
    profiles_dir: Path, artifacts: Path, models: Path, cache_dir: Path, *, image: str | None = None
) -> Remeasure:
    """SEAM (host side): time two builds' models side by side in the profile's image (``image``: another one), in
    the container of a build with the artifacts mounted read-only, running ``latency-ab``; the result comes back as
    its log's ``LATENCY-AB`` line."""

    def remeasure(profile: Profile, previous: Path, new: Path) -> Mapping[str, Any]:
        from dataclasses import replace

        from builder.host.docker_engine import DockerEngine
        from builder.host.image import ensure_image
        from builder.host.launch import resolve_profile, run_container, spec_name
        from builder.host.settings import host_settings
        from builder.host.spec import ARTIFACTS_MOUNT, PROFILES_MOUNT, container_spec, flavour_for_profile
        from builder.timing.latency_ab import parse_result_line

        engine = DockerEngine()
        settings = host_settings(profiles_dir, models, artifacts, cache_dir, image=image)
        _, profile_file = resolve_profile(str(profile.source), settings.profiles_dir)
        flavour = flavour_for_profile(profile)
        found = ensure_image(flavour, engine, lambda line: None, ref=settings.image)
        settings = replace(settings, profiles_dir=profile_file.parent.absolute(), image=found.ref, image_id=found.id)
        spec = container_spec(profile_file.stem, profile.backend, settings, flavour)
        root = settings.artifacts_dir
        inside = [f"{ARTIFACTS_MOUNT}/{p.absolute().relative_to(root).as_posix()}" for p in (previous, new)]
        mounts = tuple(replace(m, read_only=True) if m.target == ARTIFACTS_MOUNT else m for m in spec.mounts)
        command = ("latency-ab", "--profile", f"{PROFILES_MOUNT}/{profile_file.name}", *inside)
        lines: list[str] = []
        code = run_container(engine, spec_name(profile.name), replace(spec, command=command, mounts=mounts),
                             lines.append)  # fmt: skip
        results = [r for r in map(parse_result_line, lines) if r is not None]
        if code != 0 or not results:
            tail = "; ".join(lines[-3:]) or "no output"
            raise BuilderError(
                f"the side-by-side timing container exited with code {code}: {tail}",
                hint="run `engine-foundry latency-ab` in `make shell` on the two build folders to see why",
            )
        return results[-1]

    return remeasure


def image_rebuild_step(*, log: Callable[[str], None] = print) -> Callable[[Sequence[Profile]], Mapping[str, Any]]:
    """SEAM (host side): rebuild the images the profiles need, with no layer cache, base re-resolved.

    Calls ``builder.host.image.rebuild_image(flavour, no_cache=True, log=...)`` for each flavour
    (``cpu`` / ``trt``) and records what it returns (image ID, reference, base digest). A flavour that
    cannot be rebuilt (e.g. its base cannot be pulled) is listed under ``failed``: only its profiles fail.
    """

    def step(profiles: Sequence[Profile]) -> Mapping[str, Any]:
        from builder.host import image as host_image
        from builder.host.spec import flavour_for_profile

        images, failed = {}, {}
        for flavour in sorted({flavour_for_profile(p) for p in profiles}):
            log(f"nightly: rebuilding image {flavour} from scratch (no layer cache)")
            try:
                images[flavour] = jsonable(host_image.rebuild_image(flavour, no_cache=True, log=log))
            except BuilderError as err:
                failed[flavour] = err.message
        ids = ", ".join(f"{k} {v.get('id') if isinstance(v, dict) else v}" for k, v in images.items())
        message = "; ".join(([f"rebuilt from scratch: {ids}"] if images else []) + [f"{k} failed" for k in failed])
        return {"message": message, "images": images, "failed": failed}

    return step


def newest_failed(layout: ArtifactLayout) -> Path | None:
    """The newest folder under ``failed/``, or None."""
    if not layout.failed_dir.is_dir():
        return None
    folders = sorted(p for p in layout.failed_dir.iterdir() if p.is_dir())
    return folders[-1] if folders else None

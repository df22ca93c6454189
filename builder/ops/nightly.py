"""``nightly``: rebuild the image(s), rebuild every profile, compare with the previous good build, report, prune.

The build runner and the image step are injected (see :mod:`builder.ops.runners`):
``--bare`` builds in this process with ``builder.pipeline.run.run_build``; the
default builds in Docker through the host launcher.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from builder.errors import ArtifactError, BuilderError, UsageError
from builder.ops.drift import (
    DriftReport,
    compare_manifests,
    interleaved_latency_changes,
    model_sha256,
    same_model_bytes,
)
from builder.ops.history import collect_history, failed_point, latency_point
from builder.ops.report import write_reports
from builder.ops.retention import check_retention, prune_profile
from builder.profile import Profile
from builder.record.layout import MANIFEST_NAME, ArtifactLayout
from builder.record.manifest import utc_now
from builder.record.manifest_read import ManifestView, read_manifest

REPORT_SCHEMA = 1
OK_RESULTS = ("no drift", "baseline", "skipped")
DRIFT_RESULTS = ("drift", "regression")  # the only results that make the night exit 7


@dataclass(frozen=True)
class BuildAttempt:
    """What one forced build of one profile gave: a published folder, or an error line."""

    profile: str
    build_dir: Path | None
    error: str | None = None
    failed_dir: Path | None = None


BuildRunner = Callable[[str], BuildAttempt]  # profile reference -> attempt; never raises BuilderError
# -> {"message", "images", "failed": {flavour: message}}; a flavour listed in "failed" fails only its profiles;
# raising a BuilderError fails every profile
ImageStep = Callable[[Sequence[Profile]], Mapping[str, Any]]
HostCheck = Callable[[Profile], "str | None"]  # why this host cannot build the profile (-> SKIPPED), or None
# (profile, previous build folder, new build folder) -> builder.timing.latency_ab.measure_interleaved's result;
# raises BuilderError when the two models cannot be timed
Remeasure = Callable[[Profile, Path, Path], Mapping[str, Any]]


@dataclass(frozen=True)
class NightlyOptions:
    profiles_dir: Path
    artifacts: Path
    reports: Path
    profiles: tuple[str, ...] = ()  # empty: every non-abstract profile in profiles_dir
    latency_threshold: float = 0.2
    keep: int = 5
    keep_failed: int = 5
    runner_name: str = "bare"


@dataclass
class NightlyResult:
    data: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.data["ok"])

    @property
    def drifted(self) -> list[str]:
        """Profiles whose new build drifted or regressed (the nightly's exit 7); other failures are build failures."""
        return list(self.data.get("drifted", []))

    @property
    def failures(self) -> list[str]:
        """One line per profile (or the image) that drifted, regressed or failed."""
        return list(self.data["failures"])


def select_profiles(options: NightlyOptions) -> list[tuple[str, Profile | None, str | None]]:
    """``(reference, profile or None, error or None)`` for each profile to rebuild."""
    from builder.profile import list_profiles, load_profile

    refs = list(options.profiles) or [item.name for item in list_profiles(options.profiles_dir) if not item.abstract]
    selected: list[tuple[str, Profile | None, str | None]] = []
    for ref in refs:
        try:
            selected.append((ref, load_profile(ref, options.profiles_dir), None))
        except BuilderError as err:
            selected.append((ref, None, f"invalid profile: {err.message}"))
    return selected


def run_nightly(
    options: NightlyOptions,
    runner: BuildRunner,
    *,
    image_step: ImageStep | None = None,
    host_check: HostCheck | None = None,
    remeasure: Remeasure | None = None,
    log: Callable[[str], None] = print,
    now: datetime | None = None,
) -> NightlyResult:
    """Run one night and write ``<reports>/<stamp>/report.{json,md,html}``.

    Profiles ``host_check`` rejects are ``skipped`` with its reason (never built, never failed); only
    ``drift`` / ``regression`` results count as drift (:attr:`NightlyResult.drifted`). Latency: with the same
    model bytes as the previous good build it is never judged (the machine, not the build); with other bytes
    ``remeasure`` times both models side by side and that decides (without it, the two manifests' numbers do).
    What was compared is each entry's ``latency_comparison``.

    Raises:
        UsageError: bad retention counts or no profiles to build.
    """
    check_retention(options.keep, options.keep_failed)
    started = utc_now()
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    selected = select_profiles(options)
    if not selected:
        raise UsageError(
            f"no profiles to build in {options.profiles_dir}", hint="pass --profiles-dir or --profiles NAME ..."
        )
    skips = {ref: (host_check(p) if host_check and p is not None else None) for ref, p, _ in selected}
    for ref, profile, _ in selected:
        if profile is not None and skips[ref]:
            log(f"SKIPPED {profile.name}: {skips[ref]}")  # once, before any image work (as `make engines`)
    image = _run_image_step(image_step, [p for ref, p, _ in selected if p is not None and not skips[ref]], log)
    entries, points = [], {}
    for ref, profile, error in selected:
        entry, point = _night_of_profile(ref, profile, error, skips[ref], options, runner, image, stamp, log, remeasure)
        entries.append(entry)
        points[entry["profile"]] = point
    failures = ([f"image: {image['message']}"] if image["status"] == "failed" else []) + [
        _failure_line(e) for e in entries if e["result"] not in OK_RESULTS
    ]
    data = {
        "schema_version": REPORT_SCHEMA,
        "stamp": stamp,
        "started_at": started,
        "finished_at": utc_now(),
        "ok": not failures,
        "failures": failures,
        "drifted": [e["profile"] for e in entries if e["result"] in DRIFT_RESULTS],
        "skipped": {e["profile"]: e["reasons"][0] for e in entries if e["result"] == "skipped"},
        "settings": {
            "latency_threshold": options.latency_threshold,
            "keep": options.keep,
            "keep_failed": options.keep_failed,
            "runner": options.runner_name,
            "profiles": [e["profile"] for e in entries],
        },
        "image": dict(image),
        "profiles": entries,
        "history": collect_history(options.reports, options.artifacts, [e["profile"] for e in entries], points),
    }
    paths = write_reports(_report_folder(options.reports, stamp), data)
    log(f"nightly: report {paths['markdown']}")
    return NightlyResult(data, paths)


def _run_image_step(
    image_step: ImageStep | None, profiles: list[Profile], log: Callable[[str], None]
) -> dict[str, Any]:
    if image_step is None:
        return {"status": "skipped", "message": "no image rebuild (--bare or --no-image-rebuild)"}
    if not profiles:
        return {"status": "skipped", "message": "no image rebuild: no profile to build on this host"}
    try:
        result = dict(image_step(profiles))
    except BuilderError as err:
        log(f"nightly: image rebuild failed: {err.message}")
        return {"status": "failed", "message": err.message, "hint": err.hint}
    failed = result.get("failed") or {}
    for flavour, message in failed.items():
        log(f"nightly: image {flavour} rebuild failed: {message} (only its profiles fail)")
    return {"status": "partial" if failed else "rebuilt", **result}


def _image_failure(image: Mapping[str, Any], profile: Profile) -> str | None:
    """Why ``profile`` cannot be built after the image step: every image failed, or the one of its flavour did."""
    if image["status"] == "failed":
        return "not built: the image rebuild failed"
    from builder.backends.catalog import get_backend_entry

    flavour = get_backend_entry(profile.backend).flavour
    message = (image.get("failed") or {}).get(flavour)
    return f"not built: the {flavour} image could not be rebuilt: {message}" if message else None


def _night_of_profile(
    ref: str, profile: Profile | None, error: str | None, skip: str | None, options: NightlyOptions,
    runner: BuildRunner, image: Mapping[str, Any], stamp: str, log: Callable[[str], None],
    remeasure: Remeasure | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    name = profile.name if profile else ref
    entry: dict[str, Any] = {"profile": name, "result": "failed", "reasons": [], "previous_build": None,
                             "new_build": None, "latency_ms": None, "latency_comparison": None, "changes": [],
                             "pruned": []}  # fmt: skip
    if profile is None:
        entry["reasons"] = [error or "invalid profile"]
        return entry, failed_point(stamp, None, entry["reasons"][0])
    layout = ArtifactLayout(options.artifacts, name)
    previous = _previous_manifest(layout, entry)
    if skip:
        entry.update(result="skipped", reasons=[skip])  # said once, up front
        return entry, {**failed_point(stamp, None, skip), "status": "skipped"}
    not_built = _image_failure(image, profile)
    if not_built:
        entry["reasons"].append(not_built)
        return entry, failed_point(stamp, None, not_built)
    log(f"nightly: building {name} (previous good build: {entry['previous_build'] or 'none'})")
    try:
        attempt = runner(ref)
    except BuilderError as err:  # runners report failures as attempts; be safe anyway
        attempt = BuildAttempt(name, None, err.message)
    if attempt.build_dir is not None and attempt.build_dir.name == entry["previous_build"]:
        attempt = BuildAttempt(name, None, "no new build was published (the runner returned the previous build)")
    if attempt.build_dir is None:
        entry["reasons"].append(attempt.error or "build failed")
        failed_id = attempt.failed_dir.name if attempt.failed_dir else None
        point = failed_point(stamp, failed_id, entry["reasons"][-1])
    else:
        try:
            new = read_manifest(attempt.build_dir / MANIFEST_NAME)
        except ArtifactError as err:
            entry["reasons"].append(err.message)
            return _pruned(entry, layout, options), failed_point(stamp, attempt.build_dir.name, err.message)
        previous = _same_kind_previous(layout, previous, new, attempt.build_dir, entry, log)
        drift = compare_manifests(previous, new, latency_threshold=options.latency_threshold)
        if previous is not None:
            previous_dir = layout.build_dir(previous.build_id)
            drift, entry["latency_comparison"] = _judge_latency(
                drift, previous, new, (profile, previous_dir, attempt.build_dir), options, remeasure, log
            )
        entry.update(result=drift.verdict, new_build=new.build_id, changes=[c.to_dict() for c in drift.changes])
        entry["reasons"] += [c.line() for c in drift.failing()]
        latency = new.benchmark.latency_ms if new.benchmark else None
        entry["latency_ms"] = latency.as_dict() if latency else None
        point = latency_point(new)
    log(f"nightly: {name}: {entry['result']}" + (f": {entry['reasons'][0]}" if entry["reasons"] else ""))
    return _pruned(entry, layout, options), point


def environment_kind(manifest: ManifestView | None) -> str:
    """``bare`` (built in a Python environment: ``--bare``, the farm's bare runner) or ``image`` (built in the
    builder image): the two never share a build key, so each has its own newest good build."""
    env = (manifest.environment_id if manifest else None) or ""
    return "bare" if env.startswith("bare:") else "image"


def _same_kind_previous(
    layout: ArtifactLayout, previous: ManifestView | None, new: ManifestView, new_dir: Path,
    entry: dict[str, Any], log: Callable[[str], None],
) -> ManifestView | None:  # fmt: skip
    """The previous good build the new one is compared with: ``latest``, unless ``latest`` was built in the other
    kind of environment (a farm bare-runner build vs a container build of the same profile): then the newest good
    build of the new one's kind, said in the entry's ``previous_note`` (none of that kind: ``latest`` as it is)."""
    kind = environment_kind(new)
    if previous is None or environment_kind(previous) == kind:
        return previous
    for folder in reversed(layout.good_builds()):
        if folder.name == new_dir.name:
            continue
        try:
            candidate = read_manifest(folder / MANIFEST_NAME)
        except ArtifactError:
            continue
        if environment_kind(candidate) == kind:
            note = (
                f"latest ({previous.build_id}) was built in the {environment_kind(previous)} environment; compared "
                f"with the newest good {kind} build, {candidate.build_id}"
            )
            entry.update(previous_build=candidate.build_id, previous_note=note)
            log(f"nightly: {layout.profile}: {note}")
            return candidate
    return previous


def _judge_latency(
    drift: DriftReport, previous: ManifestView, new: ManifestView, builds: tuple[Profile, Path, Path],
    options: NightlyOptions, remeasure: Remeasure | None, log: Callable[[str], None],
) -> tuple[DriftReport, dict[str, Any]]:  # fmt: skip
    """Which latency comparison decides, and its changes in place of the manifests' (see :func:`run_nightly`)."""
    shas = {"previous": model_sha256(previous), "new": model_sha256(new)}
    if not new.succeeded:
        return drift, {"kind": "none", "model_sha256": shas, "why": "the new build failed"}
    same = same_model_bytes(previous, new)
    if same:
        why = "same model bytes: a latency change is the machine, not the build (recorded, not judged)"
        return drift, {"kind": "same-bytes", "model_sha256": shas, "why": why}
    if remeasure is None:
        return drift, {"kind": "manifests", "model_sha256": shas, "why": "no side-by-side timing in this runner"}
    profile, previous_dir, new_dir = builds
    log(f"nightly: {profile.name}: model bytes changed; timing the previous and new models side by side")
    try:
        measured = dict(remeasure(profile, previous_dir, new_dir))
    except BuilderError as err:
        why = f"side-by-side timing failed ({err.message}); judged on the two manifests' numbers"
        log(f"nightly: {profile.name}: {why}")
        return drift, {"kind": "manifests", "model_sha256": shas, "why": why}
    changes, facts = interleaved_latency_changes(measured, options.latency_threshold)
    kept = tuple(c for c in drift.changes if c.area != "latency" or not c.key.startswith("latency_ms."))
    comparison = {"kind": "interleaved", "model_sha256": shas, **facts, "measured": measured}
    return replace(drift, changes=kept + tuple(changes)), comparison


def _previous_manifest(layout: ArtifactLayout, entry: dict[str, Any]) -> ManifestView | None:
    good = layout.good_builds()
    folder = layout.latest_dir() or (good[-1] if good else None)
    if folder is None:
        return None
    try:
        manifest = read_manifest(folder / MANIFEST_NAME)
    except ArtifactError as err:
        entry["reasons"].append(f"previous build not comparable: {err.message}")
        return None
    entry["previous_build"] = manifest.build_id
    return manifest


def _pruned(entry: dict[str, Any], layout: ArtifactLayout, options: NightlyOptions) -> dict[str, Any]:
    try:
        entry["pruned"] = prune_profile(layout, options.keep, options.keep_failed).removed
    except (BuilderError, OSError) as err:
        entry["result"] = "failed"
        entry["reasons"].append(f"retention: {getattr(err, 'message', err)}")
    return entry


def _failure_line(entry: Mapping[str, Any]) -> str:
    reasons = entry["reasons"] or ["no reason recorded"]
    more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return f"{entry['profile']}: {entry['result']}: {reasons[0]}{more}"


def _report_folder(reports: Path, stamp: str) -> Path:
    folder, index = reports / stamp, 1
    while folder.exists():
        index += 1
        folder = reports / f"{stamp}-{index}"
    return folder

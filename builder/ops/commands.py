"""CLI subcommands of the ops area: ``nightly``, ``bundle``, ``prune``.

``builder.cli`` calls :func:`register` when it builds its parser. Handlers import their modules lazily.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from builder.cli_options import env_path
from builder.errors import RegressionError, StageError, UsageError


def _paths(parser: argparse.ArgumentParser, *, profiles: bool = True) -> None:
    if profiles:
        parser.add_argument(
            "--profiles-dir",
            type=Path,
            default=env_path("ENGINE_FOUNDRY_PROFILES", "profiles"),
            help="folder of profile YAML files",
        )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_ARTIFACTS", "artifacts"),
        help="artifacts folder (default: ./artifacts)",
    )


def _retention(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--keep", type=int, default=5, help="good builds to keep per profile (default 5; `latest` is always kept)"
    )
    parser.add_argument("--keep-failed", type=int, default=5, help="failed builds to keep per profile (default 5)")


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``nightly``, ``bundle``, ``reproduce`` and ``prune`` to the CLI's subparsers."""
    nightly = sub.add_parser(
        "nightly", help="rebuild image(s) and every profile from scratch, compare with the last good builds, report"
    )
    nightly.add_argument(
        "--profiles",
        nargs="+",
        default=[],
        metavar="PROFILE",
        help="profiles to rebuild (default: every non-abstract profile this host can build; the others are SKIPPED)",
    )
    _paths(nightly)
    nightly.add_argument(
        "--models",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_MODELS", "models"),
        help="checkpoints and calibration data",
    )
    nightly.add_argument(
        "--cache-dir",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_CACHE", "cache"),
        help="timing/calibration cache folder",
    )
    nightly.add_argument(
        "--reports",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_REPORTS", "reports"),
        help="where <date-time>/report.* go",
    )
    nightly.add_argument(
        "--latency-threshold", type=float, default=0.2, help="p50 growth that fails the night (default 0.2 = +20%%)"
    )
    _retention(nightly)
    nightly.add_argument("--no-image-rebuild", action="store_true", help="build with the existing image(s)")
    nightly.add_argument(
        "-v", "--verbose", action="store_true", help="show the image builds' and builds' full logs live (else: files)"
    )
    nightly.add_argument("--bare", action="store_true", help="build in this process (no Docker, no image rebuild)")
    nightly.add_argument(
        "--farm",
        nargs="?",
        const="auto",
        default=None,
        metavar="ADDRESS",
        help="build on the Ray build farm (docs/farm.md); ADDRESS defaults to auto",
    )
    nightly.set_defaults(handler=_cmd_nightly)

    latency_ab = sub.add_parser(
        "latency-ab", help="time two build folders' models side by side, interleaved (the nightly runs it)"
    )
    latency_ab.add_argument("previous", type=Path, help="the previous good build folder")
    latency_ab.add_argument("new", type=Path, help="the new build folder")
    latency_ab.add_argument("--profile", required=True, help="profile name or YAML path")
    latency_ab.add_argument(
        "--profiles-dir", type=Path, default=env_path("ENGINE_FOUNDRY_PROFILES", "profiles"), help="profile folder"
    )
    latency_ab.set_defaults(handler=_cmd_latency_ab)

    bundle = sub.add_parser(
        "bundle",
        help="pack one build (or, with --profiles, a fleet) into a .tar.gz for ops (OPS.md, Triton, checksums)",
    )
    which = bundle.add_mutually_exclusive_group(required=True)
    which.add_argument("--profile", help="profile name (its folder under the artifacts folder)")
    which.add_argument(
        "--profiles",
        nargs="+",
        metavar="PROFILE",
        help="a fleet bundle: the latest build of each profile, for `verify --select` (docs/ops.md)",
    )
    which.add_argument(
        "--farm-run",
        type=Path,
        metavar="RECORD",
        help="a fleet bundle of the builds a farm run published (its record: reports/farm/<stamp>.json)",
    )
    _paths(bundle, profiles=False)
    bundle.add_argument(
        "--build", default=None, metavar="ID", help="build ID or unique prefix (default: the one `latest` points to)"
    )
    bundle.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="bundle path (default: bundles/<profile>-<build id>.tar.gz, a fleet bundles/fleet-<digest>.tar.gz)",
    )
    bundle.add_argument(
        "--sign-key",
        type=Path,
        default=None,
        metavar="KEY",
        help="sign the bundle offline with this PEM EC private key (model.sig; passphrase in "
        "ENGINE_FOUNDRY_SIGN_KEY_PASSWORD); verify with `verify --trusted-key PUB` (docs/ops.md)",
    )
    bundle.set_defaults(handler=_cmd_bundle)

    reproduce = sub.add_parser(
        "reproduce", help="rebuild a bundle or build folder from its recorded inputs and compare with what was shipped"
    )
    reproduce.add_argument("path", type=Path, help="a bundle (.tar.gz or unpacked) or a build folder")
    reproduce.add_argument(
        "--models",
        type=Path,
        default=env_path("ENGINE_FOUNDRY_MODELS", "models"),
        help="where the recorded weights and data sets are looked up (default: ./models)",
    )
    reproduce.set_defaults(handler=_cmd_reproduce)

    prune = sub.add_parser("prune", help="remove old builds: keep the newest good and failed builds per profile")
    prune.add_argument(
        "--profiles",
        nargs="+",
        default=[],
        metavar="PROFILE",
        help="profiles to prune (default: every folder under --artifacts)",
    )
    _paths(prune, profiles=False)
    _retention(prune)
    prune.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    prune.set_defaults(handler=_cmd_prune)


def _cmd_nightly(args: argparse.Namespace) -> int:
    from builder.ops.nightly import NightlyOptions, run_nightly
    from builder.ops.runners import bare_remeasure, bare_runner, docker_remeasure, docker_runner, image_rebuild_step

    if args.latency_threshold <= 0:
        raise UsageError(f"--latency-threshold {args.latency_threshold}: must be above 0", hint="e.g. 0.2 for +20%")
    options = NightlyOptions(
        profiles_dir=args.profiles_dir, artifacts=args.artifacts, reports=args.reports, profiles=tuple(args.profiles),
        latency_threshold=args.latency_threshold, keep=args.keep, keep_failed=args.keep_failed,
        runner_name="farm" if args.farm else "bare" if args.bare else "docker",
    )  # fmt: skip
    image_log: Any = None  # the image builds' log sink (docker runner only)
    remeasure: Any = None  # times the previous and new models side by side when their bytes differ
    if args.farm:
        from builder.farm.nightly_runner import farm_runner

        runner, image_step = farm_runner(args.profiles_dir, args.artifacts, args.models, args.farm), None
    elif args.bare:
        runner = bare_runner(args.profiles_dir, args.artifacts, args.models, args.cache_dir)
        image_step, remeasure = None, bare_remeasure()
    else:
        from builder.host.progress import ProgressSink, log_path

        runner = docker_runner(args.profiles_dir, args.artifacts, args.models, args.cache_dir, verbose=args.verbose)
        remeasure = docker_remeasure(args.profiles_dir, args.artifacts, args.models, args.cache_dir)
        image_log = ProgressSink(log_path(args.reports, "images"), verbose=args.verbose)  # the image builds' output
        image_step = None if args.no_image_rebuild else image_rebuild_step(log=image_log)
    from builder.machine.buildable import BuildHost, why_not_buildable

    facts = BuildHost.probe(in_process=args.bare)
    try:
        result = run_nightly(
            options, runner, image_step=image_step, remeasure=remeasure,
            host_check=lambda p: why_not_buildable(p.backend, facts),
        )  # fmt: skip
    finally:
        if image_log is not None:
            image_log.close()
    for line in result.failures:
        print(f"NIGHTLY-FAIL {line}", file=sys.stderr)
    built = len(result.data["profiles"]) - len(result.data["skipped"])
    if result.drifted:
        raise RegressionError(
            f"nightly: {len(result.drifted)} profile(s) drifted or regressed: {', '.join(result.drifted)}"
            f" (lines above); report {result.paths['markdown']}",
            hint=f"open {result.paths['html']}; a changed input or environment is expected drift once, "
            "the next night compares with this build",
        )
    if not result.ok:
        raise StageError(
            "nightly",
            f"{len(result.failures)} build(s) failed, no drift found (lines above); "
            f"report {result.paths['markdown']}",
            hint="each NIGHTLY-FAIL line names the cause; "
            "the failed build's record is under <artifacts>/<profile>/failed/",
        )  # fmt: skip
    print(
        f"NIGHTLY-OK {built} profile(s) built, no drift, {len(result.data['skipped'])} skipped: "
        f"{result.paths['markdown']}"
    )
    return 0


def _cmd_latency_ab(args: argparse.Namespace) -> int:
    from builder.profile import load_profile
    from builder.timing.latency_ab import measure_interleaved, result_line

    profile = load_profile(args.profile, args.profiles_dir)
    print(result_line(measure_interleaved(profile, args.previous, args.new)), flush=True)
    return 0


def _cmd_bundle(args: argparse.Namespace) -> int:
    from builder.ops.bundle import find_build, make_bundle

    if args.profiles or args.farm_run:
        from builder.ops.fleet_bundle import farm_run_builds, find_fleet_builds, make_fleet_bundle

        if args.build is not None:
            raise UsageError("--build picks one build of --profile", hint="a fleet bundles each profile's latest")
        builds = (
            farm_run_builds(args.farm_run)
            if args.farm_run
            else find_fleet_builds(args.artifacts, list(args.profiles), env_path("ENGINE_FOUNDRY_PROFILES", "profiles"))
        )
        fleet = make_fleet_bundle(builds, args.output, sign_key=args.sign_key)
        names = ", ".join(f"{b.parent.parent.name} {b.name}" for b in builds)
        print(f"BUNDLED fleet of {len(builds)} build(s) ({names}): {fleet.path} (sha256 {fleet.sha256})")
        return 0
    build_dir = find_build(args.artifacts, args.profile, args.build)
    result = make_bundle(build_dir, args.output, sign_key=args.sign_key)
    signed = f", signed with {args.sign_key}" if args.sign_key else ""
    print(f"BUNDLED {args.profile} build {build_dir.name}: {result.path} (sha256 {result.sha256}{signed})")
    return 0


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from builder.errors import ArtifactError
    from builder.ops.reproduce import Verdict, print_result, reproduce

    result = reproduce(args.path, args.models)
    print_result(result)
    if result.verdict is Verdict.DIFFERS:
        raise ArtifactError(
            f"reproduce: {args.path} differs from its rebuild from the recorded inputs: {result.lines[0]}",
            hint="do not trust that this build came from its recorded inputs; rebuild it, or find what changed "
            "(the lines above name each difference)",
        )
    return result.exit_code


def _cmd_prune(args: argparse.Namespace) -> int:
    from builder.ops.retention import prune_profile
    from builder.record.layout import ArtifactLayout

    names = list(args.profiles)
    if not names and args.artifacts.is_dir():
        names = sorted(p.name for p in args.artifacts.iterdir() if p.is_dir() and not p.name.startswith("."))
    for name in names:
        result = prune_profile(ArtifactLayout(args.artifacts, name), args.keep, args.keep_failed, dry_run=args.dry_run)
        verb = "would remove" if args.dry_run else "removed"
        print(
            f"{name}: {verb} {len(result.removed)}, kept {len(result.kept)}"
            + (f": {', '.join(result.removed)}" if result.removed else "")
        )
    return 0

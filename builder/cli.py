"""The command line: argparse, lazy dispatch and the one error boundary.

User errors print ``ERROR <message>`` (+ ``TIP <hint>``) with no traceback
and exit with the code of their class (builder/errors.py); anything else is
a bug: traceback and exit 70.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from builder import __version__
from builder.cli_options import add_common_paths, env_path
from builder.errors import (
    BuilderError,
    ExitCode,
    ProfileError,
    UsageError,
    error_lines,
    missing_package_error,
    problem_lines,
)
from builder.farm import commands as farm_commands
from builder.host import commands as host_commands
from builder.host import gpu_tests
from builder.ops import commands as ops_commands
from builder.profile import DEFAULT_PROFILE

# they import torch, ultralytics, onnxruntime, polygraphy
PRIVATE_DIRS_COMMANDS = ("build", "verify", "latency-ab", "reproduce")


class _Parser(argparse.ArgumentParser):
    """argparse whose errors go through the error boundary."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"run `{self.prog} --help` for the accepted arguments")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="engine-foundry", description="Engine Foundry: reproducible YOLO -> TensorRT / ONNX Runtime builds."
    )
    parser.add_argument("--version", action="version", version=f"engine-foundry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    build = sub.add_parser("build", help="run the pipeline here (inside the container, or bare)")
    build.add_argument(
        "--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})"
    )
    add_common_paths(build)
    build.add_argument("--image-id", default=None, help="ID of the image this runs in (set by the launcher)")
    build.add_argument("--force", action="store_true", help="rebuild even when an up-to-date build exists")
    build.add_argument(
        "--wait", action="store_true", help="wait for a running build of the same profile instead of refusing"
    )
    build.add_argument(
        "--allow-large",
        action="store_true",
        help="build even when the estimated memory or time exceeds this host (builder/pipeline/resources.py)",
    )
    build.set_defaults(handler=_cmd_build)

    validate = sub.add_parser("validate", help="check profiles without building")
    validate.add_argument("profiles", nargs="*", help="profile names or paths (default: every profile)")
    validate.add_argument("--profiles-dir", type=Path, default=env_path("ENGINE_FOUNDRY_PROFILES", "profiles"))
    validate.set_defaults(handler=_cmd_validate)

    lister = sub.add_parser("list", help="list profiles")
    lister.add_argument("--profiles-dir", type=Path, default=env_path("ENGINE_FOUNDRY_PROFILES", "profiles"))
    lister.set_defaults(handler=_cmd_list)

    verify = sub.add_parser("verify", help="check an artifact folder: checksums, manifest, and that it loads here")
    verify.add_argument("path", type=Path, help="a build folder, a bundle, or <artifacts>/<profile>")
    verify.add_argument("--no-run", action="store_true", help="skip loading the artifact and running one inference")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--trusted-key",
        type=Path,
        default=None,
        metavar="PUB",
        help="require a bundle signed with this PEM EC public key and a provenance matching its manifest (docs/ops.md)",
    )
    verify.add_argument(
        "--select",
        action="store_true",
        help="PATH is a fleet bundle (make bundle PROFILES=...): pick the build that fits this host, then check it",
    )
    verify.add_argument(
        "--extract", type=Path, default=None, metavar="DIR", help="with --select: write the chosen build to DIR"
    )
    verify.set_defaults(handler=_cmd_verify)

    doctor = sub.add_parser("doctor", help="report this environment and what is missing for which profiles")
    doctor.add_argument("--profiles-dir", type=Path, default=env_path("ENGINE_FOUNDRY_PROFILES", "profiles"))
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(handler=_cmd_doctor)

    host_commands.register(sub)  # engine, engines, image, shell, pin, offline-base, lock, clean
    ops_commands.register(sub)  # nightly, bundle, reproduce, prune
    gpu_tests.register(sub)  # test-gpu
    _register_fixture_commands(sub)  # fixture-model, fixture-data, where the training tool is installed
    farm_commands.register(sub)  # farm
    return parser


def _register_fixture_commands(sub: argparse._SubParsersAction) -> None:
    """``fixture-model`` and ``fixture-data`` come from ``fixture_trainer``, a separate package beside ``builder``
    (the host's editable install has it; the image ships ``builder/`` only, and its builds need neither)."""
    try:
        from fixture_trainer import commands as fixture_commands
    except ModuleNotFoundError as error:
        if error.name != "fixture_trainer":
            raise
        return
    fixture_commands.register(sub)


def _cmd_build(args: argparse.Namespace) -> int:
    from builder.common import interrupts

    with interrupts.handling():  # SIGINT/SIGTERM at any instant: cleanup, the truth, exit 130/143
        return _build(args)


def _build(args: argparse.Namespace) -> int:
    from builder.pipeline.resources import check_fits_host
    from builder.pipeline.run import BuildSettings, run_build
    from builder.profile import load_profile

    profile = load_profile(args.profile, args.profiles_dir)
    check_fits_host(profile, allow_large=args.allow_large, models_dir=args.models)
    settings = BuildSettings(
        artifacts=args.artifacts,
        models=args.models,
        cache_dir=args.cache_dir,
        image_id=args.image_id,
        force=args.force,
        wait=args.wait,
        argv=tuple(sys.argv),
    )
    outcome = run_build(profile, settings)
    print(f"{'UP-TO-DATE' if outcome.up_to_date else 'BUILT'} {profile.name}: {outcome.build_dir}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from builder.profile import list_profiles, load_profile

    refs = args.profiles or [p.name for p in list_profiles(args.profiles_dir) if not p.abstract]
    if not refs:
        raise UsageError(f"no profiles found in {args.profiles_dir}", hint="pass --profiles-dir or profile paths")
    failures = 0
    for ref in refs:
        try:
            profile = load_profile(ref, args.profiles_dir)
        except ProfileError as err:
            failures += 1
            _say_error(*problem_lines(err.errors))
            continue
        print(f"OK {profile.name} ({profile.source})")
    if failures:
        raise UsageError(
            f"{failures} of {len(refs)} profile(s) are invalid (errors above)",
            hint="fix the listed keys and run validate again",
        )
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from builder.profile import list_profiles

    for item in list_profiles(args.profiles_dir):
        if item.error:
            print(f"{item.name:24} INVALID  {item.error}")
        elif not item.abstract:
            print(f"{item.name:24} {item.backend:12} {item.precision:5} {item.description}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from builder.verify.artifact import print_report, verify_path

    if args.select or args.extract is not None:
        from builder.ops.fleet_verify import run_select

        return run_select(args.path, select=args.select, extract=args.extract, run_inference=not args.no_run,
                          as_json=args.json, trusted_key=args.trusted_key)  # fmt: skip
    report = verify_path(args.path, run_inference=not args.no_run, trusted_key=args.trusted_key)
    print_report(report, as_json=args.json)
    return report.exit_code()


def _cmd_doctor(args: argparse.Namespace) -> int:
    from builder.machine.doctor import check_complete, print_doctor, run_doctor

    report = run_doctor(args.profiles_dir)
    print_doctor(report, as_json=args.json)
    check_complete(report)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command inside the error boundary."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return int(ExitCode.OK)
        if args.command in PRIVATE_DIRS_COMMANDS:  # before any heavy import: libraries write only there
            from builder.common.private_dirs import private_library_dirs

            with private_library_dirs():
                return int(args.handler(args))
        return int(args.handler(args))
    except BuilderError as err:
        return report_error(err)
    except ModuleNotFoundError as missing:  # a third-party package this Python lacks: the environment, not a bug
        if (missing.name or "builder").split(".")[0] == "builder":
            return _bug()
        return report_error(missing_package_error(missing.name, sys.executable, sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:
        hint = (
            "run the same command again when ready; a build only publishes when it completes, "
            "so nothing partial is left"
        )
        _say_error(*error_lines(BuilderError("interrupted (Ctrl-C); nothing was published", hint=hint)))
        return int(ExitCode.INTERRUPTED)
    except Exception:
        return _bug()


def _bug() -> int:
    """The current exception is a bug: its traceback, one ERROR + TIP, exit 70."""
    traceback.print_exc()
    bug = BuilderError(
        "this is a bug in Engine Foundry, not in your input", hint="please report it with the traceback above"
    )
    _say_error(*error_lines(bug))
    return int(ExitCode.BUG)


def report_error(err: BuilderError) -> int:
    """Print the ``ERROR``/``TIP`` lines of a user-facing error (``errors.error_lines``); return its exit code."""
    _say_error(*error_lines(err))
    return int(err.exit_code)


def _say_error(*lines: str) -> None:
    for line in lines:
        print(line, file=sys.stderr)

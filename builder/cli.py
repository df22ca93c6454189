"""The command line: argparse, lazy dispatch and the one error boundary.

User errors print ``ERROR <message>`` (+ ``TIP <hint>``) with no traceback
and exit with the code of their class (builder/errors.py); anything else is
a bug: traceback and exit 70.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path
from typing import Callable, NoReturn, Sequence

from builder import __version__
from builder.errors import BuilderError, ExitCode, ProfileError, UsageError

from builder.profile import DEFAULT_PROFILE  # noqa: E402 (dependency-free)


class _Parser(argparse.ArgumentParser):
    """argparse whose errors go through the error boundary."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}", hint=f"run `{self.prog} --help` for the accepted arguments")


def _env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name, default))


def add_common_paths(parser: argparse.ArgumentParser) -> None:
    """--profiles-dir / --artifacts / --models / --cache-dir, shared by several commands."""
    parser.add_argument("--profiles-dir", type=Path, default=_env_path("ENGINE_FOUNDRY_PROFILES", "profiles"), help="folder of profile YAML files (default: ./profiles)")
    parser.add_argument("--artifacts", type=Path, default=_env_path("ENGINE_FOUNDRY_ARTIFACTS", "artifacts"), help="artifacts folder (default: ./artifacts)")
    parser.add_argument("--models", type=Path, default=_env_path("ENGINE_FOUNDRY_MODELS", "models"), help="folder of checkpoints and calibration data (default: ./models)")
    parser.add_argument("--cache-dir", type=Path, default=_env_path("ENGINE_FOUNDRY_CACHE", "cache"), help="persistent timing/calibration cache folder (default: ./cache)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m builder", description="Engine Foundry: reproducible YOLO -> TensorRT / ONNX Runtime builds.")
    parser.add_argument("--version", action="version", version=f"engine-foundry {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    build = sub.add_parser("build", help="run the pipeline here (inside the container, or bare)")
    build.add_argument("--profile", default=DEFAULT_PROFILE, help=f"profile name or YAML path (default: {DEFAULT_PROFILE})")
    add_common_paths(build)
    build.add_argument("--image-id", default=None, help="ID of the image this runs in (set by the launcher)")
    build.add_argument("--force", action="store_true", help="rebuild even when an up-to-date build exists")
    build.add_argument("--wait", action="store_true", help="wait for a running build of the same profile instead of refusing")
    build.set_defaults(handler=_cmd_build)

    validate = sub.add_parser("validate", help="check profiles without building")
    validate.add_argument("profiles", nargs="*", help="profile names or paths (default: every profile)")
    validate.add_argument("--profiles-dir", type=Path, default=_env_path("ENGINE_FOUNDRY_PROFILES", "profiles"))
    validate.set_defaults(handler=_cmd_validate)

    lister = sub.add_parser("list", help="list profiles")
    lister.add_argument("--profiles-dir", type=Path, default=_env_path("ENGINE_FOUNDRY_PROFILES", "profiles"))
    lister.set_defaults(handler=_cmd_list)

    verify = sub.add_parser("verify", help="check an artifact folder: checksums, manifest, and that it loads here")
    verify.add_argument("path", type=Path, help="a build folder, a bundle, or <artifacts>/<profile>")
    verify.add_argument("--no-run", action="store_true", help="skip loading the artifact and running one inference")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(handler=_cmd_verify)

    doctor = sub.add_parser("doctor", help="report this environment and what is missing for which profiles")
    doctor.add_argument("--profiles-dir", type=Path, default=_env_path("ENGINE_FOUNDRY_PROFILES", "profiles"))
    doctor.add_argument("--json", action="store_true")
    doctor.set_defaults(handler=_cmd_doctor)

    for register in _optional_registrations():
        register(sub)
    return parser


def _optional_registrations() -> list[Callable[[argparse._SubParsersAction], None]]:
    """Subcommands of other areas (host launcher, ops); each module imports nothing heavy at top level."""
    registrations = []
    for module_name in ("builder.host.commands", "builder.ops.commands", "builder.farm.commands"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as err:
            if err.name and module_name.startswith(err.name):
                continue
            raise
        registrations.append(module.register)
    return registrations


def _cmd_build(args: argparse.Namespace) -> int:
    from builder.pipeline import BuildSettings, run_build
    from builder.profile import load_profile

    profile = load_profile(args.profile, args.profiles_dir)
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
            for problem in err.errors:
                print(f"ERROR {printable(problem)}", file=sys.stderr)
            continue
        print(f"OK {profile.name} ({profile.source})")
    if failures:
        raise UsageError(f"{failures} of {len(refs)} profile(s) are invalid (errors above)", hint="fix the listed keys and run validate again")
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
    from builder.verify_artifact import print_report, verify_path

    report = verify_path(args.path, run_inference=not args.no_run)
    print_report(report, as_json=args.json)
    return report.exit_code()


def _cmd_doctor(args: argparse.Namespace) -> int:
    from builder.doctor import print_doctor, run_doctor

    report = run_doctor(args.profiles_dir)
    print_doctor(report, as_json=args.json)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command inside the error boundary."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "handler", None):
            parser.print_help()
            return int(ExitCode.OK)
        return int(args.handler(args))
    except BuilderError as err:
        return report_error(err)
    except KeyboardInterrupt:
        print("ERROR interrupted; nothing was published", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception:
        traceback.print_exc()
        print("ERROR this is a bug in Engine Foundry, not in your input", file=sys.stderr)
        print("TIP please report it with the traceback above", file=sys.stderr)
        return int(ExitCode.BUG)


def printable(text: object) -> str:
    """One line, control characters escaped: user input must not forge or split ERROR/TIP lines."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


def report_error(err: BuilderError) -> int:
    """Print ``ERROR``/``TIP`` lines for a user-facing error; return its exit code."""
    print(f"ERROR {printable(err.message)}", file=sys.stderr)
    if isinstance(err, ProfileError):
        for problem in err.errors[1:]:
            print(f"ERROR {printable(problem)}", file=sys.stderr)
    if err.hint:
        print(f"TIP {printable(err.hint)}", file=sys.stderr)
    return int(err.exit_code)

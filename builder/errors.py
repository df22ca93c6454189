"""The error tree and exit codes of Engine Foundry.

Every expected failure is a :class:`BuilderError` subclass: the CLI's error
boundary prints ``ERROR <message>`` and ``TIP <hint>`` and exits with the
class's code, with no traceback.  Anything else is a bug (exit 70).
"""

from __future__ import annotations

import enum
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass

#: the one command docs, TIPs, cron and CI name: the console script `make` installs into .venv (it keeps the exit
#: codes below; `make` turns every failure into its own exit 2). Typed from the repository root as it is.
CLI = ".venv/bin/engine-foundry"


def cli(args: str) -> str:
    """``args`` as a command to type, e.g. ``cli("doctor")`` -> ``.venv/bin/engine-foundry doctor``."""
    return f"{CLI} {args}".strip()


class ExitCode(enum.IntEnum):
    """Documented exit codes (README, "Exit codes")."""

    OK = 0
    FAILURE = 1  # a user-facing error with no more specific class
    USAGE = 2  # bad command line or bad profile
    ENVIRONMENT = 3  # missing Docker, image, GPU, TensorRT, wrong GPU, unwritable folder
    STAGE = 4  # export, build, verification or benchmark failed
    ARTIFACT = 5  # checksum mismatch, missing or tampered artifact, incompatible host
    BUSY = 6  # another build of the same profile holds the lock
    REGRESSION = 7  # nightly found drift or a regression
    UNVERIFIED = 8  # verify: intact, but the checks that decide "runs here" could not run (no GO, no NO-GO)
    BUG = 70  # an unexpected exception: a bug in Engine Foundry
    INTERRUPTED = 130  # Ctrl-C


class BuilderError(Exception):
    """An expected, user-actionable failure.

    Args:
        message: what went wrong and where (one line).
        hint: how to fix it (one line), printed as ``TIP``.
    """

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class FieldError:
    """One problem in one profile file: ``file:line: key.path: message``."""

    file: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        key = f"{self.key}: " if self.key else ""
        return f"{where}: {key}{self.message}"


class UsageError(BuilderError):
    """Bad command-line arguments."""

    exit_code = ExitCode.USAGE


class ProfileError(BuilderError):
    """A profile that cannot be loaded; carries every problem found."""

    exit_code = ExitCode.USAGE

    def __init__(self, errors: Sequence[FieldError], *, hint: str | None = None) -> None:
        self.errors = tuple(errors)
        first = str(self.errors[0]) if self.errors else "invalid profile"
        more = f" (and {len(self.errors) - 1} more problem(s))" if len(self.errors) > 1 else ""
        super().__init__(
            first + more,
            hint=hint or f"fix the listed keys; `{cli('validate')}` checks profiles without building",
        )


class HostEnvironmentError(BuilderError):
    """The machine lacks something: Docker, an image, a GPU, TensorRT, a writable folder."""

    exit_code = ExitCode.ENVIRONMENT


class ModelError(BuilderError):
    """A checkpoint that is missing, corrupt or does not match its sha256 pin."""

    exit_code = ExitCode.USAGE


class StageError(BuilderError):
    """A pipeline stage failed; ``stage`` names it."""

    exit_code = ExitCode.STAGE

    def __init__(self, stage: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{stage}: {message}", hint=hint)
        self.stage = stage


class ExportError(StageError):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__("export", message, hint=hint)


class EngineBuildError(StageError):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__("build", message, hint=hint)


class VerificationError(StageError):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__("verify", message, hint=hint)


class BenchmarkError(StageError):
    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__("benchmark", message, hint=hint)


class ArtifactError(BuilderError):
    """A published artifact that is missing, tampered with, or unfit for this host."""

    exit_code = ExitCode.ARTIFACT


class BusyError(BuilderError):
    """Another build of the same profile is running."""

    exit_code = ExitCode.BUSY


class UnverifiedError(BuilderError):
    """``verify`` found the artifact intact but could not run the checks that decide whether it runs here."""

    exit_code = ExitCode.UNVERIFIED


class RegressionError(BuilderError):
    """A nightly comparison found drift or a regression."""

    exit_code = ExitCode.REGRESSION


def printable(text: object) -> str:
    """One line, control characters escaped: user input must not forge or split ERROR/TIP lines."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


MAX_LISTED_ERRORS = 50  # ERROR lines per profile; the rest are counted ("... and N more")


def problem_lines(problems: Sequence[object], *, already: int = 0) -> list[str]:
    """One ``ERROR`` line per problem, at most :data:`MAX_LISTED_ERRORS` in all; then how many were left out."""
    shown = max(MAX_LISTED_ERRORS - already, 0)
    lines = [f"ERROR {printable(problem)}" for problem in problems[:shown]]
    if len(problems) > shown:
        lines.append(f"ERROR ... and {len(problems) - shown} more problem(s) not listed")
    return lines


def error_lines(err: BuilderError) -> list[str]:
    """The one ERROR/TIP format: ``ERROR <message>`` (one more per extra profile problem), then ``TIP <hint>``.

    The CLI's error boundary prints these on standard error; so does the launcher for a build that failed in its
    container, and ``make engines`` for each profile that failed while the others go on.
    """
    lines = [f"ERROR {printable(err.message)}"]
    if isinstance(err, ProfileError):
        lines += problem_lines(err.errors[1:], already=1)
    if err.hint:
        lines.append(f"TIP {printable(err.hint)}")
    return lines


#: the package sets scripts/setup-env makes, each leaving its stamp ``.engine-foundry-<set>`` in the venv
SETUP_ENV_SETS = ("host", "verify", "dev")


def setup_env_sets(prefix: str) -> list[str]:
    """The sets scripts/setup-env installed into the environment at ``prefix`` (none: not a venv it made)."""
    return [kind for kind in SETUP_ENV_SETS if os.path.isfile(os.path.join(prefix, f".engine-foundry-{kind}"))]


def missing_package_error(
    name: str | None, executable: str, argv: Sequence[str], prefix: str | None = None
) -> HostEnvironmentError:
    """A third-party package this Python lacks: the environment (exit 3), never a bug; the TIP names the command
    that has the pinned packages (``argv``: this command's arguments, repeated in it). In a .venv that
    scripts/setup-env made for the host or verify side only (``prefix``: the environment, default this one), the TIP
    names the set that has the package instead: running the same command again there would fail the same way."""
    package = (name or "?").split(".")[0]
    again = cli(" ".join(argv))
    sets = setup_env_sets(sys.prefix if prefix is None else prefix)
    if sets and "dev" not in sets:
        return HostEnvironmentError(
            f"the Python package {package!r} is not installed in {executable}: scripts/setup-env set this "
            f"environment up for the {' and '.join(sets)} side only, which does not run this command",
            hint="`scripts/setup-env dev` adds the build packages (torch, ultralytics, ONNX Runtime; `make test` "
            f"does it too), then run `{again}`; or build in the container instead: `make engine PROFILE=<name>`",
        )
    return HostEnvironmentError(
        f"the Python package {package!r} is not installed in {executable} (this is not the Python Engine Foundry "
        "set up)",
        hint=f"run `{again}` from the repository root: the command `make` sets up in .venv with the pinned packages "
        "(`scripts/setup-env host` makes it without building anything)",
    )


def first_line(err: BaseException) -> str:
    """The first line of an exception's text for an ERROR message (a leading "ERROR ❌️ " of ultralytics removed)."""
    text = re.sub(r"^ERROR\W*", "", str(err).strip())
    return text.splitlines()[0] if text else type(err).__name__

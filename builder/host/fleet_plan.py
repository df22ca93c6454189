"""Which of several profiles this host can build, decided before any image or container work (``make engines``).

The same answer as ``make engine`` and the nightly (:func:`builder.machine.buildable.why_not_buildable`): a profile
whose
backend needs a GPU on a GPU-less host is SKIPPED with the reason, up front. The rule for the exit code:

- nothing at all can be built here: :class:`HostEnvironmentError` (exit 3) before Docker is asked anything;
- profiles the user named (``--profiles``) that cannot be built here: the others are built, then exit 3
  (unless a build failed or was interrupted: that code wins), so a script never takes a missing engine for done;
- the default list (every profile) skips what this host cannot build and exits 0 when the rest succeeded,
  like the nightly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.errors import HostEnvironmentError, cli
from builder.machine.buildable import BuildHost, why_not_buildable
from builder.profile import Profile

HOST_TIP = (
    "build it on a host with an NVIDIA GPU, its driver and the NVIDIA Container Toolkit; "
    f"`{cli('doctor')}` lists the profiles this host can build"
)


@dataclass(frozen=True)
class Skip:
    """A profile this host cannot build, and why."""

    ref: str
    name: str
    reason: str

    def line(self) -> str:
        return f"SKIPPED {self.name}: {self.reason}"


@dataclass(frozen=True)
class FleetPlan:
    """The profiles to build (reference, loaded profile), those skipped, and whether the user named them."""

    build: tuple[tuple[str, Profile], ...]
    skipped: tuple[Skip, ...]
    named: bool

    def missing_error(self) -> HostEnvironmentError | None:
        """The error for named profiles that were not built here (None when every named one could be)."""
        if not self.named or not self.skipped:
            return None
        names = ", ".join(s.name for s in self.skipped)
        return HostEnvironmentError(
            f"not built on this host: {names} ({self.skipped[0].reason})",
            hint=f"{HOST_TIP}; leave out --profiles (make engines without PROFILES) to build only what this host can",
        )


def plan_fleet(refs: Sequence[str | Path], profiles_dir: Path, host: BuildHost, *, named: bool = True) -> FleetPlan:
    """Load every profile (all problems before anything runs) and split them into buildable and skipped.

    Args:
        named: the user listed these profiles (``--profiles``); False for the default "every profile" list.

    Raises:
        ProfileError: a profile is missing or invalid.
        HostEnvironmentError: this host can build none of them (exit 3, with each reason).
    """
    from builder.host.launch import resolve_profile

    build: list[tuple[str, Profile]] = []
    skipped: list[Skip] = []
    for ref in refs:
        profile = resolve_profile(ref, profiles_dir)[0]
        reason = why_not_buildable(profile.backend, host)
        if reason:
            skipped.append(Skip(str(ref), profile.name, reason))
        else:
            build.append((str(ref), profile))
    if not build:
        reasons = "; ".join(f"{s.name}: {s.reason}" for s in skipped) or "no profiles given"
        raise HostEnvironmentError(f"this host can build none of the profiles ({reasons})", hint=HOST_TIP)
    return FleetPlan(tuple(build), tuple(skipped), named)

"""The nightly's build runner on the farm (``nightly --farm [ADDRESS]``, ``make nightly FARM=1``).

Each profile is a forced farm build (one Ray task on a node that can serve it), verified and published
centrally like every farm build; the nightly then compares it with the previous good build as usual.
The images on the nodes are whatever the fleet runs: the driver does not rebuild them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from builder.errors import BuilderError
from builder.ops.nightly import BuildAttempt, BuildRunner
from builder.record.layout import ArtifactLayout


def farm_runner(
    profiles_dir: Path, artifacts: Path, models: Path, address: str, *, log: Callable[[str], None] = print
) -> BuildRunner:
    """A :data:`BuildRunner` that builds each profile on the Ray cluster at ``address`` (never raises BuilderError)."""

    def run(ref: str) -> BuildAttempt:
        from builder.farm.run import FarmOptions, run_farm
        from builder.ops.runners import newest_failed

        options = FarmOptions(
            profiles=(ref,), profiles_dir=profiles_dir, artifacts=artifacts, models=models, address=address, force=True
        )
        try:
            (result,) = run_farm(options, log=log)
        except BuilderError as err:
            return BuildAttempt(ref, None, err.message)
        if result.status in ("built", "already published") and result.build_dir:
            return BuildAttempt(result.profile, Path(result.build_dir))
        layout = ArtifactLayout(artifacts, result.profile)
        return BuildAttempt(result.profile, None, f"farm: {result.status}: {result.message}", newest_failed(layout))

    return run

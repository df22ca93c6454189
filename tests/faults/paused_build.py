"""``python -m tests.faults.paused_build POINT MARKER BUILDER-ARGS...``: a real build that stops at POINT.

The fault suite SIGKILLs a build while it is inside a given stage.  Stages such
as ``build`` (ONNX Runtime optimisation) or ``publish`` last milliseconds, so
polling the manifest cannot hit them reliably; this runner makes the moment
deterministic without changing what the build does: it runs the real CLI, and
when the build reaches POINT it writes MARKER and sleeps until it is killed.

Points:
    export, build, verify, benchmark: after the stage's real work, before the
        pipeline records it (its files are in staging, the manifest says running);
    publish: after SHA256SUMS and the final manifest are written and synced,
        before the staging folder is renamed into builds/;
    latest: after the rename into builds/, before ``latest`` is switched.

Stage points run the CLI's build with a pipeline whose stage is wrapped (``run_build``'s ``pipeline``
argument); ``publish`` and ``latest`` patch ``builder.pipeline.stages.publish._fsync_tree`` and
``ArtifactLayout.point_latest_at``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

STAGE_POINTS = ("export", "build", "verify", "benchmark")
POINTS = (*STAGE_POINTS, "publish", "latest")


def _pause(point: str, marker: Path) -> None:
    """Write ``marker`` and wait: until SIGKILL, or until SIGINT/SIGTERM (acted on here, or held back by a
    ``builder.common.interrupts.deferred`` block: then the build goes on, and the signal is acted on when the block
    ends)."""
    from builder.common import interrupts

    marker.write_text(json.dumps({"point": point, "pid": os.getpid()}))
    while interrupts._STATE.pending is None:
        time.sleep(0.05)


def install(point: str, marker: Path) -> None:
    """Patch the pipeline so that reaching ``point`` writes ``marker`` and blocks."""
    from builder.pipeline import run as pipeline
    from builder.pipeline.stages import PIPELINE, publish
    from builder.record.layout import ArtifactLayout

    if point in STAGE_POINTS:
        stages = []
        for stage in PIPELINE:
            if stage.NAME != point:
                stages.append(stage)
                continue

            def run(ctx: Any, _real: Callable[[Any], Any] = stage.run) -> Any:
                result = _real(ctx)
                _pause(point, marker)
                return result

            stages.append(SimpleNamespace(NAME=stage.NAME, run=run, preflight=getattr(stage, "preflight", None)))
        real_run_build = pipeline.run_build
        pipeline.run_build = lambda profile, settings: real_run_build(profile, settings, tuple(stages))  # type: ignore[assignment]
    elif point == "publish":
        real_fsync = publish._fsync_tree

        def fsync_then_pause(folder: Path) -> None:
            real_fsync(folder)
            _pause(point, marker)

        publish._fsync_tree = fsync_then_pause  # type: ignore[assignment]
    elif point == "latest":
        real_point = ArtifactLayout.point_latest_at

        def pause_then_point(self: ArtifactLayout, build_id: str) -> None:
            _pause(point, marker)
            real_point(self, build_id)

        ArtifactLayout.point_latest_at = pause_then_point  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown point {point!r}; use one of {', '.join(POINTS)}")


def main(argv: list[str]) -> int:
    point, marker, *builder_args = argv
    install(point, Path(marker))
    from builder.cli import main as cli_main

    sys.argv = ["python -m builder", *builder_args]
    return cli_main(builder_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

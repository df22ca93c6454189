"""What a build leaves when SIGINT or SIGTERM ends it (the cleanup :mod:`builder.common.interrupts` runs), judged from
disk.

Published (``builds/<id>`` whole, staging gone): say so, and whether ``latest`` points at it. Still in staging:
move the record to ``failed/<id>`` as an interrupted build (only its manifest), remove the rest. Either way the
build's scratch folder goes. A build id therefore ends in ``builds/`` or in ``failed/``, never in both.
"""

from __future__ import annotations

import os
import shutil
import signal
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from builder.common.interrupts import Cleanup
from builder.errors import ArtifactError, cli
from builder.record.layout import MANIFEST_NAME, ArtifactLayout
from builder.record.manifest import utc_now, write_json_atomic
from builder.record.manifest_read import ManifestView, read_manifest


def build_cleanup(layout: ArtifactLayout, build_id: str) -> Cleanup:
    """The cleanup for build ``build_id`` of ``layout`` (its staging and scratch folders need not exist yet)."""

    def cleanup(signal_name: str) -> tuple[str, str]:
        for scratch in layout.staging_root.glob(f"{build_id}.*"):
            shutil.rmtree(scratch, ignore_errors=True)
        staging, final = layout.staging_dir(build_id), layout.build_dir(build_id)
        if final.is_dir() and not staging.exists():
            return published_message(layout, final)
        if not staging.exists():
            return "nothing was published; builds/ and latest are unchanged", "run the build again"
        record, stage = record_interrupted(layout, staging, signal_name)
        where = f"; the interrupted build is recorded in {record}" if record else ""
        return (
            f"stopped during {stage}; nothing was published (builds/ and latest are unchanged){where}",
            "run the build again",
        )

    return cleanup


def published_message(layout: ArtifactLayout, final: Path) -> tuple[str, str]:
    """What to say when the build was published before the signal was acted on."""
    latest = layout.latest_dir()
    if latest is not None and latest == final.resolve():
        return (
            f"the build had already been published: {final} is complete and latest points at it",
            f"nothing to redo; check it with `{cli(f'verify {final}')}`",
        )
    return (
        f"{final} is complete, but latest still points at {latest or 'nothing'}",
        "run the build again: it reports the build up to date and points latest at it",
    )


def record_interrupted(layout: ArtifactLayout, staging: Path, signal_name: str) -> tuple[Path | None, str]:
    """Move ``staging``'s manifest, marked failed by ``signal_name``, to ``failed/<id>``; remove everything else.

    Returns the record's folder (None when no record could be kept: staging is removed all the same) and the
    stage that was stopped.
    """
    target, stage = layout.failed_dir / staging.name, "the build's set-up"
    try:
        manifest, stopped = _marked_failed(read_manifest(staging / MANIFEST_NAME), signal_name)
        stage = f"the {stopped} stage"
        write_json_atomic(staging / MANIFEST_NAME, manifest)
        layout.failed_dir.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)
    except (OSError, ValueError, ArtifactError):  # no trustworthy record to keep
        shutil.rmtree(staging, ignore_errors=True)
        return None, stage
    for path in target.iterdir():
        if path.name != MANIFEST_NAME:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return target, stage


def _marked_failed(manifest: ManifestView, signal_name: str) -> tuple[dict[str, Any], str]:
    """The manifest as a failed build's record, and the stage the signal stopped (running, else pending, else
    publish)."""
    running = [s.name for s in manifest.stages if s.status == "running"]
    pending = [s.name for s in manifest.stages if s.status == "pending"]
    stage = (running or pending or ["publish"])[0]
    message = f"{stage}: interrupted by {signal_name}"
    stages = [asdict(replace(s, status="failed", error=message) if s.name == stage else s) for s in manifest.stages]
    code = 128 + int(signal.Signals[signal_name])
    error = {"stage": stage, "message": message, "hint": "run the build again", "exit_code": code}
    failed = {**manifest.data, "stages": stages, "status": "failed", "finished_at": utc_now(), "error": error}
    return {**failed, "artifacts": []}, stage

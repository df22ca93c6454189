"""Stage ``publish``: hash every file, finish the manifest, write SHA256SUMS, rename into place, repoint latest.

The last stage of every pipeline: it writes the finished manifest itself (the manifest is one of the hashed
files) and moves the build folder out of staging, so the pipeline records nothing after it.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

from builder.common.atomic import write_text_atomic
from builder.common.hashing import SUMS_NAME, format_sums, sha256_file
from builder.common.interrupts import deferred, note_outcome
from builder.pipeline.interrupted_build import published_message
from builder.pipeline.stage_types import StageContext, StageResult, StageStatus
from builder.record.layout import MANIFEST_NAME
from builder.record.manifest import ArtifactRecord, Manifest, StageRecord, utc_now

NAME = "publish"


def run(ctx: StageContext) -> StageResult:
    """Publish ``ctx.workdir`` as ``builds/<build id>`` and point ``latest`` at it.

    Raises:
        OSError: the disk is full or the artifacts folder is not writable (the pipeline says which).
    """
    if ctx.manifest is None or ctx.layout is None:
        raise ValueError("publish runs inside run_build only (it needs the build's manifest and layout)")
    staging, layout = ctx.workdir, ctx.layout
    shutil.rmtree(ctx.scratch, ignore_errors=True)  # no later stage needs it: a kill after the rename leaves nothing
    running = ctx.manifest.stage(NAME)
    started, t0 = (running.started_at if running else None) or utc_now(), time.monotonic()
    kinds = _artifact_kinds(ctx.manifest)
    records = []
    for path in sorted(p for p in staging.rglob("*") if p.is_file()):
        rel = path.relative_to(staging).as_posix()
        if rel in (MANIFEST_NAME, SUMS_NAME):
            continue
        records.append(ArtifactRecord(rel, kinds.get(rel, "other"), path.stat().st_size, sha256_file(path)))
    details = {"build_dir": f"builds/{ctx.manifest.build_id}", "files": len(records) + 2}
    manifest = replace(ctx.manifest, artifacts=tuple(records), status="succeeded", finished_at=utc_now())
    manifest = manifest.with_stage(StageRecord(NAME, StageStatus.OK.value, started, time.monotonic() - t0, details))
    manifest.write_atomic(staging / MANIFEST_NAME)
    entries = [(r.path, r.sha256) for r in records] + [(MANIFEST_NAME, sha256_file(staging / MANIFEST_NAME))]
    write_text_atomic(staging / SUMS_NAME, format_sums(entries))
    _fsync_tree(staging)
    final = layout.build_dir(manifest.build_id)
    final.parent.mkdir(parents=True, exist_ok=True)
    with deferred():  # SIGINT/SIGTERM wait until both are done: latest is never half-switched
        os.rename(staging, final)
        layout.point_latest_at(manifest.build_id)
        note_outcome(*published_message(layout, final))
    return StageResult(details=details, published=final)


def _artifact_kinds(manifest: Manifest) -> dict[str, str]:
    kinds: dict[str, str] = {}
    for stage in manifest.stages:
        for art in stage.details.get("artifacts", []) if isinstance(stage.details, dict) else []:
            kinds[art["path"]] = art["kind"]
    return kinds


def _fsync_tree(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

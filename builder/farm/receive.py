"""The driver's side of a returned build: verify the bundle bytes as untrusted, then publish them centrally.

Verification is ``verify`` on a bundle (:func:`builder.verify.bundle.verify_bundle`: safe extraction,
checksums, manifest schema, the build's own records) without running the model, plus the farm's own checks:
the build key is the one the farm computed for the node that built it, the profile is the one sent, and the
artifact fits that node (:mod:`builder.verify.compat` against the node's facts, not the driver's: the driver is
not where the artifact runs). Publishing takes the profile's lock (the same one local builds hold), skips a
build key that is already published (two farm runs never publish twice), extracts the build into
``.staging/``, checks it is complete, renames it into ``builds/`` and switches ``latest`` atomically.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.common.hashing import SUMS_NAME, check_folder, parse_sums
from builder.common.locking import profile_lock
from builder.errors import ArtifactError
from builder.record.layout import MANIFEST_NAME, ArtifactLayout, is_build_id
from builder.record.manifest_read import ManifestView, read_manifest
from builder.verify.artifact import VerifyReport

BUNDLE_LIMIT = 8 << 30  # bytes a node may send for one build


@dataclass(frozen=True)
class Expected:
    """What the driver asked for: the build key for the node that built it, the profile hash, the node's facts.

    With the Docker runner the key depends on the image ID, which only the node knows: ``build_key`` is None and
    ``key_for_environment`` computes the key from the environment identity the manifest records (every other
    part of the key, the profile, weights and GPU, is still the driver's).
    """

    build_key: str | None
    profile_sha256: str
    node_facts: Mapping[str, Any]
    key_for_environment: Callable[[str], str] | None = None

    def key_for(self, manifest: ManifestView | None) -> str:
        if self.build_key is not None or self.key_for_environment is None:
            return self.build_key or ""
        environment = manifest.environment_id if manifest is not None else None
        return self.key_for_environment(environment) if environment and environment.startswith("image:") else ""


@dataclass(frozen=True)
class Received:
    build_dir: Path
    published: bool  # False: the same build key was already published (by another run); nothing was added
    report: VerifyReport


def verify_bundle_bytes(data: bytes, expected: Expected, scratch: Path) -> VerifyReport:
    """Every check of a returned bundle; ``report.ok`` is the go / no-go. Writes ``scratch/bundle.tar.gz``."""
    from builder.verify.bundle import verify_bundle

    archive = scratch / "bundle.tar.gz"
    if not isinstance(data, bytes) or not data or len(data) > BUNDLE_LIMIT:
        report = VerifyReport(archive)
        size = len(data) if isinstance(data, bytes) else type(data).__name__
        report.add("bundle", "fail", f"the node sent no usable bundle ({size} bytes)")
        return report
    archive.write_bytes(data)
    report = verify_bundle(archive, run_inference=False)
    report.checks = [c for c in report.checks if not c.name.startswith("compat-")]  # the driver's own host: irrelevant
    if report.manifest is not None:
        _check_expected(report, report.manifest, expected)
    return report


def _check_expected(report: VerifyReport, manifest: ManifestView, expected: Expected) -> None:
    from builder.verify.compat import HostFacts, check_host, requirements_from_manifest

    key, wanted = manifest.build_key, expected.key_for(manifest)
    if key == wanted:
        report.add("farm-build-key", "pass", f"build key {key[:12]} as computed for the node")
    else:
        report.add(
            "farm-build-key",
            "fail",
            f"build key {key[:12]} is not the {wanted[:12] or '(none)'} the farm computed for the node",
        )
    sha = manifest.profile.sha256
    status = "pass" if sha == expected.profile_sha256 else "fail"
    report.add("farm-profile", status, f"profile sha256 {sha[:12]} (sent {expected.profile_sha256[:12]})")
    facts = expected.node_facts
    host = HostFacts(facts.get("gpus") or [], facts.get("tensorrt"), facts.get("onnxruntime"))
    for verdict in check_host(requirements_from_manifest(manifest), host):
        report.add(
            f"node-{verdict.name}", verdict.status, f"node {str(facts.get('node_id', '?'))[:12]}: {verdict.message}"
        )


def publish_bundle(archive: Path, layout: ArtifactLayout, build_key: str) -> tuple[Path, bool]:
    """Publish a verified bundle's build into ``layout``; ``(build folder, published)``.

    Raises:
        ArtifactError: the bundle's build folder is incomplete or its build ID is unusable (nothing is published).
    """
    from builder.ops.bundle import BUILD_FOLDER
    from builder.verify.bundle import safe_extract

    layout.staging_root.mkdir(parents=True, exist_ok=True)
    with profile_lock(layout.lock_path, wait=True):
        existing = layout.find_build_with_key(build_key)
        if existing is not None:
            return existing, False
        with tempfile.TemporaryDirectory(prefix="farm-", dir=layout.staging_root) as tmp:
            build = safe_extract(archive, Path(tmp)) / BUILD_FOLDER
            build_id = _complete_build(build).build_id
            final = layout.build_dir(build_id)
            if not is_build_id(build_id) or final.exists():
                raise ArtifactError(f"{archive}: build ID {build_id!r} is not usable here", hint="run the farm again")
            staging = layout.staging_dir(build_id)
            os.rename(build, staging)
            _fsync_files(staging)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging, final)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        layout.point_latest_at(build_id)
        return final, True


def _complete_build(build: Path) -> ManifestView:
    """The manifest of an extracted build folder whose every file matches its SHA256SUMS (none missing or extra)."""
    try:
        problems = check_folder(build, parse_sums((build / SUMS_NAME).read_text()))
    except (OSError, ValueError) as err:
        raise ArtifactError(
            f"{build / SUMS_NAME}: unreadable ({err})", hint="run the farm again; nothing was published"
        ) from None
    if problems:
        raise ArtifactError(
            f"{build / problems[0].path}: {problems[0].problem}", hint="run the farm again; nothing was published"
        )
    return read_manifest(build / MANIFEST_NAME)


def _fsync_files(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

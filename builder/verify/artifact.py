"""`verify`: is a published build folder intact, and does it load and run here?

Checks, in order: the manifest (schema, status), ``SHA256SUMS`` against the
files, the manifest's artifact list against the files, host compatibility,
and, where the backend is installed, one real inference.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from builder.common.hashing import SUMS_NAME
from builder.errors import ArtifactError, UnverifiedError, cli
from builder.record.layout import MANIFEST_NAME
from builder.record.manifest_read import read_manifest
from builder.verify.checks import VerifyReport, add_manifest_check, check_sums, run_host_checks, verify_setup


def resolve_build_folder(path: Path) -> Path:
    """A build folder itself, or ``<artifacts>/<profile>`` (its ``latest``)."""
    if (path / MANIFEST_NAME).is_file() or (path / SUMS_NAME).is_file():
        return path
    if (path / "latest").is_dir():
        return (path / "latest").resolve()
    if not path.exists():
        raise ArtifactError(
            f"{path}: no such file or folder", hint="pass a build folder (it holds manifest.json and SHA256SUMS)"
        )
    raise ArtifactError(
        f"{path}: not a build folder (no {MANIFEST_NAME}, no latest)",
        hint="pass <artifacts>/<profile>/builds/<id> or <artifacts>/<profile>",
    )


def verify_path(path: Path, *, run_inference: bool = True, trusted_key: Path | None = None) -> VerifyReport:
    """``trusted_key``: a bundle must be signed with it (``verify --trusted-key``); a build folder never is."""
    if path.exists() and path.name.endswith((".tar.gz", ".tgz")):  # a FIFO or device is refused by safe_extract
        from builder.verify.bundle import verify_bundle  # a bundle made by `engine-foundry bundle`

        return verify_bundle(path, run_inference=run_inference, trusted_key=trusted_key)
    if path.is_dir():
        from builder.verify.bundle import bundle_top, fleet_message, verify_unpacked_bundle

        if fleet_message(path, path):
            raise ArtifactError(fleet_message(path, path), hint=f"run `{cli(f'verify --select {path}')}`")

        if bundle_top(path) is not None:  # `tar -xzf` of a bundle: the same checks as the archive's
            return verify_unpacked_bundle(path, run_inference=run_inference, trusted_key=trusted_key)
    folder = resolve_build_folder(path)
    report = VerifyReport(folder)
    if trusted_key is not None:
        report.add("signature", "fail", f"{folder}: a build folder is not signed; bundles are (bundle --sign-key KEY)")
    try:
        report.manifest = read_manifest(folder / MANIFEST_NAME)
    except ArtifactError as err:
        report.add("manifest", "fail", err.message)
        return report
    add_manifest_check(report, report.manifest)
    check_sums(report, report.folder)
    _check_listing(report)
    run_host_checks(report, run_inference=run_inference)
    return report


def _check_listing(report: VerifyReport) -> None:
    assert report.manifest is not None
    listed = {a.path: a for a in report.manifest.artifacts}
    bad = []
    for rel, art in listed.items():
        path = report.folder / rel
        if not path.is_file():
            bad.append(f"{path}: listed in the manifest but missing")
        elif path.stat().st_size != art.size:
            bad.append(f"{path}: size {path.stat().st_size} differs from the manifest's {art.size}")
    if report.manifest.model is None:
        bad.append(f"{report.folder / MANIFEST_NAME}: lists no artifact of kind 'model'")
    for message in bad:
        report.add("manifest-artifacts", "fail", message)
    if not bad:
        report.add("manifest-artifacts", "pass", f"{len(listed)} artifacts as listed")


def print_report(report: VerifyReport, *, as_json: bool = False) -> None:
    if as_json:
        checks = [asdict(c) for c in report.checks]
        print(
            json.dumps(
                {"folder": str(report.folder), "ok": report.ok, "verdict": report.verdict, "checks": checks}, indent=2
            )
        )
    else:
        for check in report.checks:
            print(f"{check.status.upper():4} {check.name}: {check.message}")
        print(f"{report.verdict}: {report.folder}")
    if not report.ok:
        first = next(c for c in report.checks if c.status == "fail")
        raise ArtifactError(first.message, hint="do not deploy this artifact; rebuild it or re-copy it from the source")
    if report.undecided:
        skipped = "; ".join(f"{c.name}: {c.message}" for c in report.undecided)
        manifest = report.manifest
        backend = manifest.profile.resolved.backend if manifest else "?"
        setup = verify_setup(backend, manifest.environment.image.name if manifest else None, str(report.folder))
        raise UnverifiedError(
            f"{report.folder}: intact, but not verified for this host ({skipped})",
            hint=f"run verify where the runtime it checks is installed: {setup} (docs/ops.md); "
            "exit 8 is neither GO nor NO-GO",
        )

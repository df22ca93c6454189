"""``verify --select``: pick the build of a fleet bundle that fits this host, run the usual GO / NO-GO on it, and
with ``--extract DIR`` write it out ready to deploy.

Works on the archive (extracted safely to a private temporary folder first) and on the folder ``tar -xzf`` made of
it; a single-build bundle is a fleet of one. The choice is :func:`builder.ops.select.select_build` of this host's
facts and the bundled manifests; every candidate gets a ``select`` line saying why it was chosen or passed over.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from builder.common.private_dirs import scratch_folder
from builder.common.safe_io import FileReadError
from builder.errors import ArtifactError, HostEnvironmentError, UsageError, cli
from builder.ops.bundle import BUILD_FOLDER, BUNDLE_SUFFIXES, OPS_DOC
from builder.ops.fleet_bundle import FLEET_INDEX, read_fleet_index
from builder.ops.select import Candidate, HostRecord, Selection, candidate_from_manifest, select_build
from builder.ops.signing import SIGNATURE_NAME, check_signature
from builder.record.layout import MANIFEST_NAME
from builder.record.manifest_read import read_manifest
from builder.verify.bundle import _relabel, bundle_top, safe_extract, verify_unpacked_bundle
from builder.verify.checks import Check, VerifyReport, check_sums


def verify_select(
    path: Path,
    host: HostRecord,
    *,
    run_inference: bool = True,
    extract: Path | None = None,
    trusted_key: Path | None = None,
) -> tuple[VerifyReport, Selection]:
    """Select, check and (with ``extract``) write out the build of the fleet bundle ``path`` that fits ``host``.

    The report holds the fleet's checksum check, one ``select`` check per build, then the chosen build's usual
    checks; ``extract`` is written only when that report is not NO-GO. ``trusted_key``: the public key the fleet
    must be signed with (its top's ``model.sig`` covers every build in it; None: reported, not checked).

    Raises:
        UsageError: ``extract`` is a non-empty folder or a file.
        ArtifactError: ``path`` is no bundle; no build fits this host (naming the profile to build, exit 5).
    """
    if extract is not None:
        check_extract_target(extract)
    archive = path.is_file() and path.name.endswith(BUNDLE_SUFFIXES)
    scratch = scratch_folder("ef-bundle-", "to unpack the bundle") if archive else contextlib.nullcontext()
    with scratch as tmp:
        if tmp is not None:
            report = VerifyReport(path)
            try:
                top = safe_extract(path, tmp)
            except (ArtifactError, FileReadError) as err:
                report.add("bundle", "fail", err.message)
                return report, Selection(None, ())
        else:
            top = _top_folder(path)
        report, selection = _select_in(top, host, run_inference=run_inference, trusted_key=trusted_key)
        if extract is not None and selection.chosen is not None and report.verdict != "NO-GO":
            write_extracted(report.folder, extract)
            report.add("extract", "pass", f"wrote {selection.chosen.candidate.profile} to {extract}")
        if tmp is not None:
            report = _relabel(report, tmp, path)
        return report, selection


def _select_in(
    top: Path, host: HostRecord, *, run_inference: bool, trusted_key: Path | None
) -> tuple[VerifyReport, Selection]:
    fleet = VerifyReport(top)
    is_fleet = (top / FLEET_INDEX).is_file()
    if is_fleet:
        check_signature(fleet, top, trusted_key)  # one signature over every build: checked before any is read
        check_sums(fleet, top, "fleet-checksums", unlisted=(SIGNATURE_NAME,))
        if not fleet.ok:
            return fleet, Selection(None, ())
        folders = {e.profile: top / e.folder for e in read_fleet_index(top)}
    else:  # a single-build bundle: a fleet of one
        folders = {"": top}
    candidates: list[Candidate] = []
    by_profile: dict[str, Path] = {}
    for profile, folder in folders.items():
        candidate = candidate_from_manifest(read_manifest(folder / BUILD_FOLDER / MANIFEST_NAME))
        if profile and candidate.profile != profile:
            raise ArtifactError(
                f"{top / FLEET_INDEX}: lists {profile!r} in {folder.name}/, whose manifest is of {candidate.profile!r}",
                hint="the fleet bundle was edited; make it again",
            )
        candidates.append(candidate)
        by_profile[candidate.profile] = folder
    selection = select_build(host, candidates)
    checks = [Check("host", "pass", host.describe())]
    chosen_first = sorted(selection.ratings, key=lambda r: r is not selection.chosen)
    for rating in chosen_first:
        who = f"{rating.candidate.profile} (build {rating.candidate.build_id})"
        if rating is selection.chosen:
            checks.append(Check("select", "pass", f"chose {who}: {rating.reason}"))
        elif rating.fits:
            tie = (
                selection.chosen is not None
                and rating.rank is not None
                and selection.chosen.rank is not None
                and (rating.rank[:2] == selection.chosen.rank[:2])
            )
            why = "fits as well, listed after the chosen build" if tie else "fits, ranked below the chosen build"
            checks.append(Check("select", "skip", f"passed over {who}: {why}: {rating.reason}"))
        else:
            checks.append(Check("select", "skip", f"passed over {who}: {rating.reason}"))
    if selection.chosen is None:
        fleet.checks.extend(checks)
        return fleet, selection
    if selection.wanted:
        checks.append(Check("select", "skip", f"no GPU build fits this host's GPU; for it, build {selection.wanted}"))
    report = verify_unpacked_bundle(
        by_profile[selection.chosen.candidate.profile],
        run_inference=run_inference,
        trusted_key=trusted_key,
        signed_above=is_fleet,
    )
    report.checks[:0] = [*fleet.checks, *checks]
    return report, selection


def run_select(
    path: Path,
    *,
    select: bool,
    extract: Path | None,
    run_inference: bool,
    as_json: bool,
    trusted_key: Path | None = None,
) -> int:
    """The ``verify --select [--extract DIR] [--trusted-key PUB]`` command on this host: the report, then GO (0),
    NO-GO or no build fits (5), UNVERIFIED (8)."""
    from builder.ops.select import current_host_record
    from builder.verify.artifact import print_report

    if not select:
        raise UsageError("--extract needs --select", hint=f"run `{cli(f'verify --select {path} --extract DIR')}`")
    report, selection = verify_select(
        path, current_host_record(), run_inference=run_inference, extract=extract, trusted_key=trusted_key
    )
    if selection.chosen is None and selection.ratings:
        for check in report.checks:
            print(f"{check.status.upper():4} {check.name}: {check.message}")
        raise_if_none_fits(path, selection)
    print_report(report, as_json=as_json)
    return report.exit_code()


def raise_if_none_fits(path: Path, selection: Selection) -> None:
    """No build fits: ERROR naming the host's needs, TIP naming the profile ``target`` to build (exit 5)."""
    if selection.chosen is not None or not selection.ratings:
        return
    names = " ".join(r.candidate.profile for r in selection.ratings)
    raise ArtifactError(
        f"{path}: none of its {len(selection.ratings)} build(s) fits this host (reasons above)",
        hint=f"build {selection.wanted} on this host and bundle it with the others "
        f'(`make bundle PROFILES="{names} <new profile>"`)',
    )


def check_extract_target(folder: Path) -> None:
    """Refuse a file or a non-empty folder before anything is read.

    Raises:
        UsageError: ``folder`` is a file or holds something.
    """
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "a file" if not folder.is_dir() else "a folder that is not empty"
        raise UsageError(
            f"--extract {folder}: {what}; nothing was written",
            hint="pass a new or empty folder (the chosen build is written there whole, or not at all)",
        )


def write_extracted(build: Path, folder: Path) -> None:
    """Copy the chosen single-build bundle folder ``build`` (OPS.md, SHA256SUMS, build/, triton/) to ``folder``:
    into a temporary folder beside it, then renamed into place (an empty ``folder`` is replaced).

    Raises:
        UsageError: ``folder`` became non-empty meanwhile.
        HostEnvironmentError: ``folder``'s parent is not writable or full.
    """
    assert (build / OPS_DOC).is_file(), build
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    except OSError as err:
        raise HostEnvironmentError(
            f"--extract {folder}: cannot write there ({err.strerror})", hint="pass a writable folder"
        ) from None
    try:
        shutil.copytree(build, tmp, dirs_exist_ok=True)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        os.rename(tmp, folder)  # replaces an empty folder; refuses a non-empty one
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if folder.is_dir() and any(folder.iterdir()):
            check_extract_target(folder)
        raise HostEnvironmentError(
            f"--extract {folder}: cannot write there ({err.strerror})", hint="free space or pass a writable folder"
        ) from None


def _top_folder(path: Path) -> Path:
    if path.is_dir() and ((path / FLEET_INDEX).is_file() or bundle_top(path) is not None):
        return path if (path / FLEET_INDEX).is_file() else bundle_top(path) or path
    raise ArtifactError(
        f"{path}: not a fleet bundle (.tar.gz) or the folder `tar -xzf` made of one",
        hint=f'make one with `make bundle PROFILES="..."`; a single build folder: `{cli(f"verify {path}")}`',
    )

"""``verify`` on a bundle: extract it safely, check its checksums, then the usual host checks.

Extraction refuses, with one line naming the archive and the member: absolute
paths, ``..``, links, devices and other special files, duplicate names,
members outside the single top folder, and archives that are truncated,
corrupt or implausibly large.
"""

from __future__ import annotations

import errno
import gzip
import shutil
import tarfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

from builder.common.hashing import SUMS_NAME, parse_sums, sha256_file
from builder.common.private_dirs import scratch_folder
from builder.common.safe_io import ARTIFACT_BYTES, TEXT_BYTES, FileReadError, open_regular, read_text
from builder.errors import ArtifactError, HostEnvironmentError, cli
from builder.ops.bundle import BUILD_FOLDER, BUNDLED_KINDS, OPS_DOC, TRITON_FOLDER
from builder.ops.provenance import PROVENANCE_NAME, check_provenance
from builder.ops.signing import SIGNATURE_NAME, check_signature
from builder.record.layout import MANIFEST_NAME
from builder.record.manifest_read import ManifestView, read_manifest
from builder.verify.checks import Check, VerifyReport, add_manifest_check, check_sums, run_host_checks

MAX_MEMBERS = 10_000
MAX_BYTES = 64 << 30
_HOST_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM)
SPACE_RESERVE = 64 << 20  # left free in the temporary folder after unpacking
_HINT = (
    "do not deploy it; copy the bundle again from its source, or make a new one with `.venv/bin/engine-foundry bundle`"
)


def safe_extract(archive: Path, dest: Path) -> Path:
    """Extract ``archive`` (.tar.gz) into ``dest``; return its single top folder.

    Nothing is written before every member header is checked (type, name, count) and the declared sizes
    fit both :data:`MAX_BYTES` and the free space in ``dest``; then the whole gzip stream is checked.

    Raises:
        ArtifactError: an unsafe member, implausible sizes, or a truncated / corrupt archive (the message names which).
        HostEnvironmentError: ``dest`` has too little free space for what the members declare.
        FileReadError: ``archive`` is not a regular file (a FIFO, a device) or larger than any bundle.
    """
    try:
        with open_regular(archive, what="bundle", limit=ARTIFACT_BYTES) as raw:
            with tarfile.open(fileobj=raw, mode="r:gz") as tar:
                members, top, total = _checked_members(archive, tar, dest)
            raw.seek(0)
            _check_gzip_stream(archive, raw, total)
            raw.seek(0)
            with tarfile.open(fileobj=raw, mode="r:gz") as tar:
                for member in members:
                    _extract_one(archive, tar, member, dest)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as err:
        raise ArtifactError(
            f"{archive}: truncated or corrupt archive ({type(err).__name__}: {err})", hint=_HINT
        ) from None
    return dest / top


def _checked_members(archive: Path, tar: tarfile.TarFile, dest: Path) -> tuple[list[tarfile.TarInfo], str, int]:
    """Every member header, checked before anything is written; a running total stops a size bomb early."""
    free = shutil.disk_usage(dest).free
    seen: set[str] = set()
    members: list[tarfile.TarInfo] = []
    top, total = None, 0
    for member in tar:  # the headers; a huge declared size is caught before its data is decompressed
        top = _check_member(archive, member, seen, top)
        members.append(member)
        total += member.size
        if len(members) > MAX_MEMBERS:
            raise ArtifactError(f"{archive}: more than {MAX_MEMBERS} members; a bundle holds a few", hint=_HINT)
        if total > MAX_BYTES:
            raise ArtifactError(
                f"{archive}: its members declare more than {MAX_BYTES >> 30} GiB "
                f"({member.name!r} alone {member.size} bytes); nothing was extracted",
                hint=_HINT,
            )
        if total + SPACE_RESERVE > free:
            raise HostEnvironmentError(
                f"{archive}: its members declare {total} bytes, but the temporary folder {dest.parent} has only "
                f"{free} bytes free; nothing was extracted",
                hint="free space in the temporary folder, or point TMPDIR at a folder with more room",
            )
    if top is None:
        raise ArtifactError(f"{archive}: empty archive", hint=_HINT)
    return members, top, total


def _extract_one(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    target = dest.joinpath(*PurePosixPath(member.name).parts)
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        raise ArtifactError(f"{archive}: member {member.name!r} has no data", hint=_HINT)
    with source:
        try:
            with open(target, "xb") as handle:  # tarfile never yields more than the declared size
                shutil.copyfileobj(source, handle, length=1 << 20)
        except OSError as err:
            if err.filename is None and err.errno not in _HOST_ERRNOS:
                raise  # a read error of the archive
            raise HostEnvironmentError(
                f"cannot unpack {archive} into {dest}: {err.strerror}",
                hint="free space in the temporary folder, or point TMPDIR at a writable folder",
            ) from None


def _check_gzip_stream(archive: Path, raw: IO[bytes], declared: int) -> None:
    """Read the whole gzip stream so its CRC and length are checked.

    ``tarfile`` stops quietly at a damaged header after the first member and never
    reaches the gzip trailer; this pass turns a flipped byte into a clear error.
    """
    read, limit = 0, declared + (MAX_MEMBERS + 2) * 1024 + (1 << 20)  # data + headers, padding, end blocks
    with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
        while chunk := stream.read(1 << 20):
            read += len(chunk)
            if read > limit:
                raise ArtifactError(
                    f"{archive}: unpacks to more than its members declare ({declared} bytes)", hint=_HINT
                )


def _check_member(archive: Path, member: tarfile.TarInfo, seen: set[str], top: str | None) -> str:
    name = member.name
    parts = PurePosixPath(name).parts
    if name.startswith(("/", "\\")) or (parts and ":" in parts[0]):
        raise ArtifactError(f"{archive}: member {name!r} has an absolute path", hint=_HINT)
    if ".." in parts or "\\" in name or not parts:
        raise ArtifactError(f"{archive}: member {name!r} points outside the bundle", hint=_HINT)
    if not (member.isfile() or member.isdir()):
        kind = "a link" if member.issym() or member.islnk() else "a device or special file"
        raise ArtifactError(f"{archive}: member {name!r} is {kind}; bundles hold plain files only", hint=_HINT)
    if name in seen:
        raise ArtifactError(f"{archive}: member {name!r} appears twice", hint=_HINT)
    seen.add(name)
    if top is not None and parts[0] != top:
        raise ArtifactError(f"{archive}: member {name!r} is outside the top folder {top!r}", hint=_HINT)
    return parts[0]


def verify_bundle(archive: Path, *, run_inference: bool = True, trusted_key: Path | None = None) -> VerifyReport:
    """Every ``verify`` check for a bundle; messages name paths as ``<archive>:<path inside>``. ``trusted_key``:
    the public key the bundle must be signed with (None: the signature is not checked, only reported)."""
    report = VerifyReport(archive)
    with scratch_folder("ef-bundle-", "to unpack the bundle") as tmp:
        try:
            top = safe_extract(archive, tmp)
        except (ArtifactError, FileReadError) as err:
            report.add("bundle", "fail", err.message)
            return report
        if fleet_message(top, archive):  # several builds: `verify --select` picks one
            raise ArtifactError(fleet_message(top, archive), hint=f"run `{cli(f'verify --select {archive}')}`")
        report.add("bundle", "pass", f"{sum(1 for p in top.rglob('*') if p.is_file())} files extracted safely")
        _check_unpacked(report, top, run_inference=run_inference, trusted_key=trusted_key)
        return _relabel(report, tmp, archive)


def fleet_message(top: Path, given: Path) -> str:
    """Why plain ``verify`` does not check a fleet bundle (``bundle --profiles``) ``given``; "" for another bundle."""
    from builder.ops.fleet_bundle import FLEET_INDEX

    if not (top / FLEET_INDEX).is_file():
        return ""
    return (
        f"{given}: a fleet bundle of several builds; `verify --select {given}` picks the one for this host "
        "and checks it"
    )


def bundle_top(path: Path) -> Path | None:
    """The top folder of an unpacked bundle (``tar -xzf``) when ``path`` is that folder or its ``build/``
    folder; None for anything else (a published build folder has no ``OPS.md`` and ``triton/`` beside it)."""
    for top in (path, path.parent) if path.name == BUILD_FOLDER else (path,):
        if (
            all((top / name).is_file() for name in (OPS_DOC, SUMS_NAME, f"{BUILD_FOLDER}/{MANIFEST_NAME}"))
            and (top / TRITON_FOLDER).is_dir()
        ):
            return top
    return None


def verify_unpacked_bundle(
    path: Path, *, run_inference: bool = True, trusted_key: Path | None = None, signed_above: bool = False
) -> VerifyReport:
    """The same checks as :func:`verify_bundle`, on a bundle unpacked with ``tar -xzf`` (``path``: its top folder or
    its ``build/`` folder), so that ops get the same answer for the archive and for what they deploy.
    ``signed_above``: the folder is a fleet's ``builds/<profile>/``, covered by the fleet's signature (checked by
    the caller), so it has none of its own to check; its provenance is still required with ``trusted_key``."""
    top = bundle_top(path)
    assert top is not None, path
    report = VerifyReport(path)
    odd = [p for p in sorted(top.rglob("*")) if p.is_symlink() or not (p.is_file() or p.is_dir())]
    if odd:
        kind = "a link" if odd[0].is_symlink() else "a device or special file"
        report.add("bundle", "fail", f"{odd[0]}: {kind}; a bundle holds plain files only")
        return report
    report.add("bundle", "pass", f"{sum(1 for p in top.rglob('*') if p.is_file())} files in the unpacked bundle {top}")
    _check_unpacked(report, top, run_inference=run_inference, trusted_key=trusted_key, signed_above=signed_above)
    report.folder = path
    return report


def _check_unpacked(
    report: VerifyReport, top: Path, *, run_inference: bool, trusted_key: Path | None, signed_above: bool = False
) -> None:
    """What follows the bundle's own check, for an archive (after extraction) and an unpacked folder alike.
    ``signed_above``: the signature that covers ``top`` is a fleet's, checked by the caller."""
    if not signed_above:
        check_signature(report, top, trusted_key)
    check_sums(report, top, "bundle-checksums", unlisted=(SIGNATURE_NAME,))
    build = top / BUILD_FOLDER
    try:
        report.manifest = read_manifest(build / MANIFEST_NAME)
    except ArtifactError as err:
        report.add("manifest", "fail", err.message)
        return
    add_manifest_check(report, report.manifest)
    _check_build_files(report, build, report.manifest)
    check_provenance(report, top / PROVENANCE_NAME, report.manifest, required=trusted_key is not None)
    _check_triton(report, top, report.manifest)
    report.folder = build
    run_host_checks(report, run_inference=run_inference)


def _check_build_files(report: VerifyReport, build: Path, manifest: ManifestView) -> None:
    """The bundled build files against the build's own SHA256SUMS and manifest (left-out files are fine)."""
    try:
        sums = parse_sums(read_text(build / SUMS_NAME, what="checksum list", limit=TEXT_BYTES))
    except (OSError, ValueError, FileReadError) as err:
        report.add("checksums", "fail", f"{build / SUMS_NAME}: unreadable ({err})")
        return
    listed = {a.path: a for a in manifest.artifacts}
    bad = []
    present = sorted(p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file() and p.name != SUMS_NAME)
    for rel in present:
        digest = sha256_file(build / rel)
        if sums.get(rel) != digest:
            bad.append(f"{build / rel}: not as the build's {SUMS_NAME} records")
        elif rel != MANIFEST_NAME and (rel not in listed or listed[rel].sha256 != digest):
            bad.append(f"{build / rel}: not as the manifest lists it")
    for kind in BUNDLED_KINDS:
        art = manifest.artifact(kind)
        if art is None or not (build / art.path).is_file():
            bad.append(f"{build / (art.path if art else MANIFEST_NAME)}: the {kind} artifact is missing")
    for message in bad:
        report.add("checksums", "fail", message)
    if not bad:
        left_out = sorted(set(listed) - set(present))  # the manifest lists every file the build published
        names = f": {', '.join(left_out)}" if left_out else ""
        report.add(
            "checksums",
            "pass",
            f"{len(present)} build files match the build's records ({len(left_out)} build files not bundled{names})",
        )


def _check_triton(report: VerifyReport, top: Path, manifest: ManifestView) -> None:
    model = manifest.model
    repo = top / TRITON_FOLDER
    configs = sorted(repo.glob("*/config.pbtxt"))
    if len(configs) != 1 or model is None:
        report.add("triton", "fail", f"{repo}: expected one model folder with config.pbtxt, found {len(configs)}")
        return
    files = [p for p in (configs[0].parent / "1").glob("*") if p.is_file()]
    if len(files) != 1 or sha256_file(files[0]) != model.sha256:
        report.add("triton", "fail", f"{configs[0].parent / '1'}: does not hold the build's model file")
        return
    report.add("triton", "pass", f"model repository {configs[0].parent.name}/ with {files[0].name} and config.pbtxt")


def _relabel(report: VerifyReport, tmp: Path, archive: Path) -> VerifyReport:
    """Name extracted paths as ``<archive>:<inside>`` (the temporary folder is gone after return)."""
    prefix = str(tmp) + "/"
    report.checks = [Check(c.name, c.status, c.message.replace(prefix, f"{archive}:")) for c in report.checks]
    report.folder = archive
    return report

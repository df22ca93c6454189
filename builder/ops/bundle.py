"""``bundle``: one deterministic ``.tar.gz`` that ops can deploy from.

Layout (every path under one top folder ``<profile>-<build id>/``)::

    OPS.md                      how to deploy: I/O, preprocessing, decoding, host needs, Triton
    SHA256SUMS                  every other file of the bundle (``sha256sum -c`` format) but model.sig
    model.sig                   with --sign-key only: the signature over every other file (builder/ops/signing.py)
    provenance.intoto.json      in-toto / SLSA build provenance, from the manifest (builder/ops/provenance.py)
    sbom.cdx.json               CycloneDX SBOM of the build image's locked packages (builder/ops/sbom.py)
    build/manifest.json         the build's manifest, SHA256SUMS, model artifact and metadata.json
    build/SHA256SUMS            the build's own checksum lines of the files bundled here (``sha256sum -c`` works)
    build/<model artifact>
    build/metadata.json
    triton/<model>/config.pbtxt
    triton/<model>/1/model.plan | model.onnx

Deterministic: sorted entries, mtime = the build's finish time, uid/gid 0,
no user names, fixed modes, gzip header without name or time. Written to a
temporary file beside the output and renamed into place.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from builder.common.atomic import atomic_output
from builder.common.hashing import SUMS_NAME, check_folder, format_sums, parse_sums, sha256_file
from builder.common.safe_io import ARTIFACT_BYTES, TEXT_BYTES, FileReadError, open_regular, read_json, read_text
from builder.errors import ArtifactError
from builder.ops.opsdoc import render_ops_doc
from builder.ops.provenance import PROVENANCE_NAME, provenance_bytes
from builder.ops.sbom import SBOM_NAME, sbom_bytes
from builder.ops.signing import SIGNATURE_NAME, signature_for
from builder.ops.triton import triton_model
from builder.record.layout import MANIFEST_NAME, ArtifactLayout
from builder.record.manifest_read import read_manifest

BUNDLE_SUFFIXES = (".tar.gz", ".tgz")
BUILD_FOLDER = "build"
TRITON_FOLDER = "triton"
OPS_DOC = "OPS.md"
BUNDLED_KINDS = ("model", "metadata")


@dataclass(frozen=True)
class BundleResult:
    path: Path
    top: str
    files: tuple[str, ...]  # paths inside the top folder
    sha256: str


def find_build(artifacts: Path, profile: str, build: str | None = None) -> Path:
    """The build folder to bundle: ``build`` (an ID or unique ID prefix) or the one ``latest`` points to.

    Raises:
        ArtifactError: no such profile, build, or ``latest``.
    """
    layout = ArtifactLayout(artifacts, profile)
    good = layout.good_builds()
    recent = ", ".join(p.name for p in good[-3:]) or "none"
    if build is None:
        latest = layout.latest_dir()
        if latest is None:
            raise ArtifactError(
                f"{layout.latest_link}: profile {profile!r} has no latest build",
                hint=f"build it first, or pass --build ID (good builds: {recent})",
            )
        return latest
    matches = [p for p in good if p.name.startswith(build)]
    if len(matches) != 1:
        what = "no good build" if not matches else f"{len(matches)} builds"
        raise ArtifactError(
            f"{layout.builds_dir}: {what} matches --build {build!r}", hint=f"pass a full build ID (newest: {recent})"
        )
    return matches[0]


def bundle_entries(build_dir: Path, kinds: tuple[str, ...] = BUNDLED_KINDS) -> tuple[str, dict[str, Path | bytes], int]:
    """The bundle's top folder name, ``{relative path: file or bytes}`` and mtime, from a checked build folder.

    ``kinds``: the manifest's artifact kinds put under ``build/`` (at least :data:`BUNDLED_KINDS`; a fleet bundle
    adds the FP32 reference ONNX, ``onnx``).

    Raises:
        ArtifactError: the build folder is damaged, failed, or lacks its model or metadata.
    """
    manifest = read_manifest(build_dir / MANIFEST_NAME)
    if not manifest.succeeded:
        raise ArtifactError(
            f"{build_dir / MANIFEST_NAME}: status {manifest.status!r}, only succeeded builds are bundled",
            hint="bundle a good build",
        )
    _check_build(build_dir)
    by_kind = {a.kind: a for a in manifest.artifacts if a.kind in kinds}
    for kind in dict.fromkeys((*BUNDLED_KINDS, *kinds)):
        if kind not in by_kind:
            raise ArtifactError(
                f"{build_dir / MANIFEST_NAME}: lists no artifact of kind {kind!r}",
                hint="rebuild: the build stage writes it",
            )
    metadata = _read_json(build_dir / by_kind["metadata"].path)
    triton = triton_model(manifest, metadata)
    entries: dict[str, Path | bytes] = {f"{BUILD_FOLDER}/{MANIFEST_NAME}": build_dir / MANIFEST_NAME}
    for art in by_kind.values():
        entries[f"{BUILD_FOLDER}/{art.path}"] = build_dir / art.path
    entries[f"{BUILD_FOLDER}/{SUMS_NAME}"] = _bundled_build_sums(build_dir, entries)
    entries[f"{TRITON_FOLDER}/{triton.config_path}"] = triton.config.encode()
    entries[f"{TRITON_FOLDER}/{triton.model_path}"] = build_dir / by_kind["model"].path
    entries[PROVENANCE_NAME] = provenance_bytes(manifest)  # every bundle: what built it, from what (SLSA)
    entries[SBOM_NAME] = sbom_bytes(manifest)  # the build image's locked packages (CycloneDX)
    listed = [(rel, *_size_and_hash(value)) for rel, value in sorted(entries.items())]
    entries[OPS_DOC] = render_ops_doc(
        manifest, metadata, triton, listed, build_folder=BUILD_FOLDER, triton_folder=TRITON_FOLDER
    ).encode()
    entries[SUMS_NAME] = format_sums((rel, _size_and_hash(value)[1]) for rel, value in entries.items()).encode()
    top = f"{manifest.profile.name}-{manifest.build_id}"
    return top, entries, _epoch(manifest.finished_or_created)


def make_bundle(build_dir: Path, output: Path | None = None, sign_key: Path | None = None) -> BundleResult:
    """Write the bundle of ``build_dir`` to ``output`` (default ``bundles/<top>.tar.gz``), atomically; with
    ``sign_key`` (a PEM EC private key), signed: ``model.sig`` covers every other file (:mod:`builder.ops.signing`).

    Raises:
        ArtifactError: the build folder is damaged (see :func:`bundle_entries`).
        UsageError: ``sign_key`` is not a usable signing key.
    """
    top, entries, mtime = bundle_entries(build_dir)
    return finish_bundle(top, entries, mtime, output, sign_key)


def finish_bundle(
    top: str, entries: dict[str, Path | bytes], mtime: int, output: Path | None, sign_key: Path | None
) -> BundleResult:
    """Sign (with ``sign_key``) and write a bundle's ``entries`` under ``top`` to ``output`` (default
    ``bundles/<top>.tar.gz``), atomically: what a single build's bundle and a fleet bundle share.

    Raises:
        ArtifactError: an output name that is not ``.tar.gz``.
        UsageError: ``sign_key`` is not a usable signing key.
    """
    if sign_key is not None:  # last: the signature covers the finished folder, SHA256SUMS included
        entries[SIGNATURE_NAME] = signature_for(top, entries, sign_key)
    output = output or Path("bundles") / f"{top}.tar.gz"
    if not output.name.endswith(BUNDLE_SUFFIXES):
        raise ArtifactError(
            f"{output}: a bundle's name must end in .tar.gz", hint=f"pass --output {output.name}.tar.gz"
        )
    write_tar_gz(output, top, entries, mtime)
    return BundleResult(output, top, tuple(sorted(entries)), sha256_file(output))


def write_tar_gz(output: Path, top: str, entries: Mapping[str, Path | bytes], mtime: int) -> None:
    """Write a byte-reproducible ``.tar.gz`` of ``entries`` under ``top/`` via a temp file + rename."""
    with atomic_output(output, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                for name in sorted(_with_folders(top, entries)):
                    value = entries.get(name[len(top) + 1 :]) if name != top else None
                    _add(tar, name, value, mtime)


def _with_folders(top: str, entries: Mapping[str, Any]) -> set[str]:
    names = {top}
    for rel in entries:
        parts = rel.split("/")
        names.update(f"{top}/{'/'.join(parts[:i])}" for i in range(1, len(parts) + 1))
    return names


def _add(tar: tarfile.TarFile, name: str, value: Path | bytes | None, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
    if value is None:
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        return
    info.mode = 0o644
    if isinstance(value, bytes):
        info.size = len(value)
        tar.addfile(info, io.BytesIO(value))
        return
    with open_regular(value, what="build file", limit=ARTIFACT_BYTES) as handle:
        info.size = os.fstat(handle.fileno()).st_size  # the size of the file added, checked to be a regular file
        tar.addfile(info, handle)


def _bundled_build_sums(build_dir: Path, entries: Mapping[str, Path | bytes]) -> bytes:
    """The build's own SHA256SUMS lines for the build files the bundle holds (its digests, unchanged), so that
    ``cd build && sha256sum -c SHA256SUMS`` checks exactly what was bundled."""
    sums = parse_sums((build_dir / SUMS_NAME).read_text())
    held = sorted(rel.split("/", 1)[1] for rel in entries if rel.startswith(f"{BUILD_FOLDER}/"))
    return format_sums((rel, sums[rel]) for rel in held if rel in sums).encode()


def _check_build(build_dir: Path) -> None:
    try:
        sums = parse_sums(read_text(build_dir / SUMS_NAME, what="checksum list", limit=TEXT_BYTES))
    except FileNotFoundError:
        raise ArtifactError(
            f"{build_dir / SUMS_NAME}: missing", hint="the build folder is damaged; rebuild it"
        ) from None
    except (ValueError, FileReadError) as err:
        raise ArtifactError(f"{build_dir / SUMS_NAME}: {err}", hint="the build folder is damaged; rebuild it") from None
    problems = check_folder(build_dir, sums)
    if problems:
        raise ArtifactError(
            f"{build_dir / problems[0].path}: {problems[0].problem}",
            hint="the build folder was modified; rebuild it, do not bundle it",
        )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = read_json(path, what="JSON record")
    except (OSError, ValueError, FileReadError) as err:
        raise ArtifactError(f"{path}: unreadable ({err})", hint="rebuild the artifact") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{path}: not a JSON object", hint="rebuild the artifact")
    return data


def _size_and_hash(value: Path | bytes) -> tuple[int, str]:
    if isinstance(value, bytes):
        return len(value), hashlib.sha256(value).hexdigest()
    return value.stat().st_size, sha256_file(value)


def _epoch(stamp: Any) -> int:
    try:
        return int(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp())
    except ValueError:
        return 0

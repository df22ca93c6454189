"""``bundle --profiles``: one fleet bundle (``.tar.gz``) holding a build per target, for ``verify --select``.

Layout (every path under one top folder ``fleet-<digest>/``; ``<digest>``: the first 12 hex digits of the sha256 of
the bundled ``profile:build id`` pairs)::

    OPS.md                          the fleet: one row per target, how ``verify --select`` picks and extracts
    FLEET.json                      the index: schema_version, and per build its profile, build ID, backend,
                                    precision, target and folder, in the order given (ties in selection go to the first)
    SHA256SUMS                      every other file of the fleet bundle (``sha256sum -c`` format)
    builds/<profile>/               one single-build bundle folder each (the layout of ``builder.ops.bundle``):
        OPS.md, SHA256SUMS, build/manifest.json, build/SHA256SUMS, build/<model>, build/metadata.json,
        build/model.onnx (the FP32 reference ONNX), triton/<model>/config.pbtxt, triton/<model>/1/<model file>

``verify --select --extract DIR`` writes one ``builds/<profile>/`` folder: a bundle that ``verify DIR`` checks
like any other. Plain files only; deterministic and atomic like a single bundle
(:func:`builder.ops.bundle.write_tar_gz`). Signing can sign the top folder's files like any bundle's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from builder.backends.tensorrt.target import target_gpu_names
from builder.common.hashing import SUMS_NAME, format_sums, sha256_file
from builder.common.safe_io import FileReadError, read_json
from builder.errors import ArtifactError, BuilderError, UsageError, cli
from builder.ops.bundle import BUNDLED_KINDS, OPS_DOC, BundleResult, bundle_entries, finish_bundle
from builder.record.layout import MANIFEST_NAME, ArtifactLayout
from builder.record.manifest_read import ManifestView, TargetView, read_manifest

FLEET_INDEX = "FLEET.json"
BUILDS_FOLDER = "builds"
FLEET_KINDS = (*BUNDLED_KINDS, "onnx")  # the model, its metadata and the FP32 reference ONNX the build exported
FLEET_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class FleetEntry:
    """One build of a fleet bundle, as :data:`FLEET_INDEX` lists it."""

    profile: str
    build_id: str
    backend: str
    precision: str
    target: str  # "NVIDIA A10 or A10G, compute capability 8.6", "CPU", "any GPU" (no target)
    folder: str  # "builds/<profile>"

    def to_dict(self) -> dict[str, str]:
        return {
            "profile": self.profile, "build_id": self.build_id, "backend": self.backend,
            "precision": self.precision, "target": self.target, "folder": self.folder,
        }  # fmt: skip


def find_fleet_builds(artifacts: Path, profiles: Sequence[str], profiles_dir: Path | None = None) -> list[Path]:
    """The ``latest`` build folder of each profile, in order; ``profiles_dir`` tells how to build a missing one.

    Raises:
        UsageError: no profile, or one named twice.
        ArtifactError: profiles without a good latest build, all named, each with the command that builds it.
    """
    if not profiles:
        raise UsageError("bundle --profiles: no profile named", hint='name them: make bundle PROFILES="a b"')
    twice = sorted({p for p in profiles if profiles.count(p) > 1})
    if twice:
        raise UsageError(
            f"bundle --profiles: {', '.join(twice)} named twice", hint="name each profile once; its latest is bundled"
        )
    found, missing = [], []
    for profile in profiles:
        latest = ArtifactLayout(artifacts, profile).latest_dir()
        if latest is None:
            missing.append(profile)
        else:
            found.append(latest)
    if missing:
        names = ", ".join(repr(p) for p in missing)
        raise ArtifactError(
            f"{artifacts}: no latest build of profile(s) {names}; nothing was bundled",
            hint=f"build {'; '.join(how_to_build(p, profiles_dir) for p in missing)}; or leave them out of PROFILES",
        )
    return found


def farm_run_builds(record: Path) -> list[Path]:
    """The build folders a farm run published, in its order, from its record (``reports/farm/<stamp>.json``,
    written by ``make farm``): every profile it built, found up to date or already published.

    Raises:
        ArtifactError: the record is unreadable, a profile failed in that run, or a build folder it names is gone.
    """
    try:
        data = read_json(record, what="farm run record")
        results = [(str(r["profile"]), str(r["status"]), str(r.get("build_dir") or ""), str(r.get("message") or ""))
                   for r in data["results"]]  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, FileReadError) as err:
        raise ArtifactError(
            f"{record}: not a farm run record ({err})", hint="pass reports/farm/<stamp>.json, written by `make farm`"
        ) from None
    ok = ("built", "up to date", "already published")  # builder.farm.progress.FarmResult.ok
    failed = [f"{name} ({status}: {message})" for name, status, _, message in results if status not in ok]
    gone = [f"{name} ({folder or 'no build folder'})" for name, status, folder, _ in results
            if status in ok and not (folder and Path(folder).is_dir())]  # fmt: skip
    if failed or gone or not results:
        built = " ".join(
            name for name, status, folder, _ in results if status in ok and folder and Path(folder).is_dir()
        )
        what = (
            "; ".join([*(f"failed in that run: {f}" for f in failed), *(f"build folder gone: {g}" for g in gone)])
            or "it built nothing"
        )
        raise ArtifactError(
            f"{record}: {what}; nothing was bundled",
            hint=f'bundle what it built (`make bundle PROFILES="{built}"`) or run the farm again for the others',
        )
    return [Path(folder) for _, _, folder, _ in results]


def how_to_build(name: str, profiles_dir: Path | None) -> str:
    """The command that builds profile ``name``, and where: a GPU profile on its target GPU or on the farm."""
    command = f"`make engine PROFILE={name}`"
    try:
        from builder.profile import load_profile

        profile = load_profile(name, profiles_dir) if profiles_dir is not None else None
    except BuilderError as err:
        return f"{command} (it does not load from {profiles_dir}: {err.message})"
    if profile is None:
        return command
    spec = profile.target
    target = TargetView(target_gpu_names(spec.gpu), spec.compute_capability) if spec else None
    where = describe_target(profile.backend.value, target)
    if where == "CPU":
        return command
    return f"{command} on a host with {where} (or `make farm PROFILES={name}`)"


def fleet_entries(build_dirs: Sequence[Path]) -> tuple[str, dict[str, Path | bytes], int, list[FleetEntry]]:
    """The fleet bundle's top folder, ``{relative path: file or bytes}``, mtime and index, from checked builds.

    Raises:
        ArtifactError: a build folder is damaged or failed, lacks an artifact (see
            :func:`builder.ops.bundle.bundle_entries`), or two builds are of one profile.
    """
    entries: dict[str, Path | bytes] = {}
    index: list[FleetEntry] = []
    mtime = 0
    for build_dir in build_dirs:
        _, build_entries, build_mtime = bundle_entries(build_dir, FLEET_KINDS)
        entry = _entry(read_manifest(build_dir / MANIFEST_NAME))
        if any(e.profile == entry.profile for e in index):
            raise ArtifactError(
                f"{build_dir}: a second build of profile {entry.profile!r}", hint="bundle one build per profile"
            )
        index.append(entry)
        entries.update({f"{entry.folder}/{rel}": value for rel, value in build_entries.items()})
        mtime = max(mtime, build_mtime)
    pairs = "\n".join(f"{e.profile}:{e.build_id}" for e in index)
    top = f"fleet-{hashlib.sha256(pairs.encode()).hexdigest()[:12]}"
    data = {"schema_version": FLEET_SCHEMA_VERSION, "builds": [e.to_dict() for e in index]}
    entries[FLEET_INDEX] = (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()
    entries[OPS_DOC] = render_fleet_doc(top, index).encode()
    entries[SUMS_NAME] = format_sums((rel, _sha256(value)) for rel, value in sorted(entries.items())).encode()
    return top, entries, mtime, index


def make_fleet_bundle(
    build_dirs: Sequence[Path], output: Path | None = None, sign_key: Path | None = None
) -> BundleResult:
    """Write the fleet bundle of ``build_dirs`` to ``output`` (default ``bundles/<top>.tar.gz``), atomically; with
    ``sign_key``, signed as a single bundle is: ``model.sig`` at the top covers every other file of the fleet.

    Raises:
        ArtifactError: see :func:`fleet_entries`; an output name that is not ``.tar.gz``.
        UsageError: ``sign_key`` is not a usable signing key.
    """
    top, entries, mtime, _ = fleet_entries(build_dirs)
    return finish_bundle(top, entries, mtime, output, sign_key)


def read_fleet_index(top: Path) -> list[FleetEntry]:
    """The builds a fleet bundle folder lists (``FLEET.json``), in order.

    Raises:
        ArtifactError: the index is unreadable or not of this schema.
    """
    path = top / FLEET_INDEX
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("schema_version") != FLEET_SCHEMA_VERSION:
            raise ValueError(f"schema_version {data.get('schema_version')!r}, expected {FLEET_SCHEMA_VERSION}")
        entries = [FleetEntry(**{k: str(b[k]) for k in FleetEntry.__dataclass_fields__}) for b in data["builds"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise ArtifactError(f"{path}: unreadable fleet index ({err})", hint="make the fleet bundle again") from None
    for entry in entries:
        if entry.folder != f"{BUILDS_FOLDER}/{entry.profile}" or "/" in entry.profile or entry.profile in ("", ".."):
            raise ArtifactError(f"{path}: build folder {entry.folder!r} is not builds/<profile>", hint="make it again")
    return entries


def _entry(manifest: ManifestView) -> FleetEntry:
    """The index entry of one build: every manifest field the fleet bundle reads, in one place."""
    resolved, name = manifest.profile.resolved, manifest.profile.name
    return FleetEntry(
        profile=name,
        build_id=manifest.build_id,
        backend=resolved.backend,
        precision=str(resolved.precision),
        target=describe_target(resolved.backend, resolved.target),
        folder=f"{BUILDS_FOLDER}/{name}",
    )


def describe_target(backend: str, target: TargetView | None) -> str:
    """A profile's ``target`` in words: "NVIDIA A10 or A10G, compute capability 8.6"; "CPU" for a CPU backend."""
    from builder.backends.catalog import needs_gpu

    if not needs_gpu(backend):
        return "CPU"
    target = target or TargetView()
    parts = [f"NVIDIA {' or '.join(target.gpus)}" if target.gpus else "",
             f"compute capability {target.compute_capability}" if target.compute_capability else ""]  # fmt: skip
    return ", ".join(p for p in parts if p) or "any NVIDIA GPU (no target)"


def render_fleet_doc(top: str, index: Sequence[FleetEntry]) -> str:
    """The fleet bundle's ``OPS.md``: its targets and the one command that picks, checks and extracts a build."""
    rows = "\n".join(
        f"| `{e.profile}` | {e.target} | {e.backend} | {e.precision} | `{e.build_id}` | `{e.folder}/` |" for e in index
    )
    return f"""# Fleet bundle {top}

One build per target. On each host, one command picks the build that fits it, checks it (GO / NO-GO) and
writes it out ready to deploy:

    {cli(f"verify --select {top}.tar.gz --extract /opt/models/{top}")}

It reads the host's GPU (model, compute capability, driver), TensorRT and ONNX Runtime, and picks: a build made on
this exact GPU model, then one of the same family (same chip line and compute capability), then one of the same
compute capability or a portable plan (hardware- or version-compatible), then a CPU build; ties go to the build
listed first below. It prints why it chose that build and why it passed over each other one; when none fits it
names the profile `target` to build for this host (exit 5). GPU builds are checked in the TensorRT image they were
built in (each build's OPS.md says how).

| profile | target | backend | precision | build | folder |
|---|---|---|---|---|---|
{rows}

Each folder is a complete single-build bundle with its own `OPS.md` (inputs, preprocessing, output decoding,
Triton model repository, host needs) and `SHA256SUMS`; `{FLEET_INDEX}` lists the builds, `SHA256SUMS` here covers
every file (`sha256sum -c SHA256SUMS`).

Exit codes of `verify --select`: 0 GO, 5 NO-GO or no build fits this host, 8 intact but not verifiable here (the
runtime is not installed), 2 a bad command line (e.g. `--extract` into a non-empty folder).

A signed fleet holds `model.sig` here: add `--trusted-key <the signer's public key>` to the command above to require
that signature over every file of the fleet and each chosen build's provenance (NO-GO, exit 5, otherwise). On a
build node with the models folder, `{cli(f"reproduce {top}/builds/<profile>")}` (on the unpacked folder) rebuilds one
build from its recorded inputs and says REPRODUCED, EQUIVALENT or DIFFERS.
"""


def _sha256(value: Path | bytes) -> str:
    return hashlib.sha256(value).hexdigest() if isinstance(value, bytes) else sha256_file(value)

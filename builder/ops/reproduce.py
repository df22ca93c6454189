"""``reproduce``: rebuild a shipped build from its recorded inputs and compare the result with what was shipped.

The shipped build is a bundle archive, an unpacked bundle or a build folder; nothing is written there. Steps:

1. read the recorded inputs from its manifest (:func:`recorded`, the one function that reads manifest fields):
   the resolved profile, the weights digest, the data digests, the environment identity and the GPU;
2. check that this host can provide each of them (:func:`host_inputs`); a missing one is refused up front, named
   (:class:`ReproduceInputError`, exit 3): "weights sha256 … not found under models/", "image … has lock digest X,
   the build used Y", "profile … needs a GPU";
3. rebuild into a private temporary folder (removed at the end): in this process for a bare build or inside the
   build's own image, else through the Docker launcher in the local image of the same identity;
4. compare (:func:`compare_artifacts`, the comparison the nightly's drift check uses too): the artifacts of a
   byte-stable backend (the catalogue's ``reproducible``: ONNX, ONNX Runtime model, metadata) byte for byte;
   a TensorRT plan, which is not byte-stable unless the profile is ``frozen``, through the rebuild's verify stage
   and the per-layer report (``layers.json``).

Verdicts (:class:`Verdict`): ``REPRODUCED`` (every artifact byte-identical, exit 0), ``EQUIVALENT`` (the
byte-stable artifacts identical; the plan's bytes differ but its per-layer report is the same and the rebuild
passed verification, exit 0), ``DIFFERS`` (what differs and where, exit 5).
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.backends.catalog import find_backend, needs_gpu
from builder.common.hashing import sha256_file
from builder.common.private_dirs import scratch_folder
from builder.common.safe_io import CHECKPOINT_BYTES, FileReadError
from builder.errors import ArtifactError, BuilderError, ExitCode, HostEnvironmentError
from builder.profile import Profile
from builder.record.buildkey import key_of_inputs
from builder.record.layout import MANIFEST_NAME
from builder.record.manifest_read import InputRef, ManifestView, read_manifest

ENGINE_KINDS = ("model", "engine", "ultralytics-engine")  # plan files: not byte-stable on a non-reproducible backend
ENGINE_SUFFIXES = (".plan", ".engine")
LAYERS_KIND = "layers"
WEIGHT_SUFFIXES = (".pt", ".pth")
#: the key inputs of the data sets a build reads (builder/record/buildkey.py ``data_digests``)
DATA_INPUTS = {"accuracy_data_sha256", "calibration_data_sha256", "frozen_timing_cache_sha256"}
BUILDER_KEYS = {"builder_source", "builder_version"}  # key inputs that are the builder itself, not the build's inputs


class ReproduceInputError(HostEnvironmentError):
    """This host cannot provide an input the build recorded (exit 3): the difference is named."""


class Status(str, enum.Enum):
    """One artifact of the shipped build against the rebuild's."""

    SAME = "same"
    DIFFERS = "differs"  # a byte-stable artifact changed
    PLAN_BYTES = "plan bytes"  # a plan of a backend that does not promise identical bytes changed
    LAYERS = "layers"  # that backend's per-layer report changed
    MISSING = "missing"  # shipped, not rebuilt
    ADDED = "added"  # rebuilt, not shipped


@dataclass(frozen=True)
class ArtifactDiff:
    path: str
    kind: str
    old: str | None  # sha256
    new: str | None
    status: Status
    detail: str = ""


def byte_stable(backend: str, frozen: bool = False) -> bool:
    """Whether ``backend`` gives byte-identical artifacts from identical inputs (the catalogue's ``reproducible``),
    or the profile freezes the TensorRT build (``frozen``: docs/tensorrt.md)."""
    entry = find_backend(backend)
    return frozen or entry is None or entry.reproducible


def compare_artifacts(
    old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], *, stable: bool
) -> list[ArtifactDiff]:
    """Each artifact record (``path``, ``kind``, ``sha256``) of ``old`` against ``new``, by path; :data:`Status.SAME`
    left out. ``stable``: :func:`byte_stable` of the build's backend. The nightly (``ops/drift.py``) and
    ``reproduce`` both judge artifacts with this."""
    before, after = {str(a["path"]): a for a in old}, {str(a["path"]): a for a in new}
    diffs = []
    for path in sorted(set(before) | set(after)):
        a, b = before.get(path), after.get(path)
        kind = str((b or a or {}).get("kind", ""))
        if a is None or b is None:
            status = Status.ADDED if a is None else Status.MISSING
            old_sha, new_sha = (str(x["sha256"]) if x else None for x in (a, b))
            diffs.append(ArtifactDiff(path, kind, old_sha, new_sha, status))
            continue
        if a["sha256"] == b["sha256"]:
            continue
        if not stable and (kind in ENGINE_KINDS or path.endswith(ENGINE_SUFFIXES)):
            status = Status.PLAN_BYTES
        elif not stable and kind == LAYERS_KIND:
            status = Status.LAYERS
        else:
            status = Status.DIFFERS
        diffs.append(ArtifactDiff(path, kind, a["sha256"], b["sha256"], status))
    return diffs


# --- the recorded inputs: the one place this module reads manifest fields ---------------------------------------


@dataclass(frozen=True)
class Recorded:
    """What the shipped build's manifest records about its inputs and outputs."""

    build_id: str
    build_key: str
    profile_name: str
    resolved: Mapping[str, Any]
    profile_sha256: str
    backend: str
    frozen: bool
    weights_identity: str
    weights_sha256: str
    checkpoint: str | None
    environment_id: str
    key_inputs: Mapping[str, Any]
    python: str
    packages: Mapping[str, Any]
    image_ref: str | None
    gpu: str
    artifacts: tuple[Mapping[str, Any], ...]
    verify_status: str


def recorded(manifest: ManifestView) -> Recorded:
    """The recorded inputs and outputs of ``manifest`` (read by :func:`builder.record.manifest_read.read_manifest`)."""
    profile, env, keys = manifest.profile, manifest.environment, manifest.key_inputs
    weights = manifest.inputs.weights or InputRef(None, None, None)
    verify = manifest.stage("verify")
    return Recorded(
        build_id=manifest.build_id,
        build_key=manifest.build_key,
        profile_name=profile.name,
        resolved=profile.resolved.data,
        profile_sha256=str(keys.get("profile_sha256") or profile.sha256),
        backend=profile.resolved.backend,
        frozen=bool(profile.resolved.frozen),
        weights_identity=weights.identity or "",
        weights_sha256=weights.sha256 or "",
        checkpoint=profile.resolved.checkpoint,
        environment_id=manifest.environment_id or env.identity or "",
        key_inputs=keys,
        python=env.python or "",
        packages=env.packages,
        image_ref=env.image.ref,
        gpu=str(keys.get("gpu") or ""),
        artifacts=tuple(dataclasses.asdict(a) for a in manifest.artifacts),
        verify_status=verify.status if verify else "",
    )


# --- the shipped build -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shipped:
    """A shipped build: its folder (a build folder, or a bundle's ``build/``) and how to name it."""

    folder: Path
    label: str  # what the user passed
    manifest: ManifestView

    def name(self, rel: str) -> str:
        return f"{self.label}:{rel}" if self.label.endswith((".tar.gz", ".tgz")) else str(self.folder / rel)


@contextlib.contextmanager
def open_shipped(path: Path, scratch: Path) -> Iterator[Shipped]:
    """The build behind ``path``: a bundle archive (extracted safely into ``scratch``), an unpacked bundle
    (its top folder or ``build/``), a build folder, or ``<artifacts>/<profile>`` (its ``latest``).

    Raises:
        ArtifactError: not one of those, or a damaged archive or manifest.
    """
    from builder.ops.bundle import BUILD_FOLDER, BUNDLE_SUFFIXES
    from builder.verify.bundle import bundle_top, safe_extract

    if path.name.endswith(BUNDLE_SUFFIXES) and path.is_file():
        scratch.mkdir(parents=True, exist_ok=True)
        folder = safe_extract(path, scratch) / BUILD_FOLDER
    elif (top := bundle_top(path)) is not None:
        folder = top / BUILD_FOLDER
    elif (path / MANIFEST_NAME).is_file():
        folder = path
    elif (path / "latest" / MANIFEST_NAME).is_file():
        folder = (path / "latest").resolve()
    else:
        raise ArtifactError(
            f"{path}: neither a bundle (.tar.gz or unpacked) nor a build folder (no {MANIFEST_NAME})",
            hint="pass a bundle made by `make bundle`, or a folder under <artifacts>/<profile>/builds/",
        )
    manifest = read_manifest(folder / MANIFEST_NAME)
    if not manifest.succeeded:
        raise ArtifactError(
            f"{folder / MANIFEST_NAME}: status {manifest.status!r}; only a succeeded build can be reproduced",
            hint="pass a good build",
        )
    yield Shipped(folder, str(path), manifest)


def shipped_records(shipped: Shipped, rec: Recorded) -> tuple[list[dict[str, Any]], list[str]]:
    """The artifact records as shipped: a file present is hashed (its bytes count, not the record); a file the
    bundle left out keeps its recorded digest. Also: each shipped file whose bytes disagree with its record."""
    records, tampered = [], []
    for art in rec.artifacts:
        path = shipped.folder / str(art["path"])
        digest = str(art["sha256"])
        if path.is_file():
            digest = sha256_file(path)
            if digest != art["sha256"]:
                tampered.append(
                    f"{shipped.name(str(art['path']))}: sha256 {digest[:12]}…, its manifest records "
                    f"{str(art['sha256'])[:12]}…: changed after the build"
                )
        records.append({**art, "sha256": digest})
    return records, tampered


# --- what this host provides -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostInputs:
    """What the rebuild uses: the profile, a models folder holding the recorded weights, how to build."""

    profile: Profile
    models: Path
    runner: str  # "in-process" | "docker"
    image_ref: str | None = None
    notes: tuple[str, ...] = ()


def host_inputs(
    rec: Recorded,
    models_dir: Path,
    shipped: Shipped,
    scratch: Path,
    *,
    environment_id: Callable[[], str] | None = None,
    image_identity: Callable[[str], tuple[str, str] | None] | None = None,
    gpus: Callable[[], Sequence[Any]] | None = None,
) -> HostInputs:
    """Check that this host can provide every recorded input; return how to rebuild.

    ``environment_id``, ``image_identity`` (flavour -> (image ref, identity) of the local image, None when absent)
    and ``gpus`` are seams for tests; the defaults read this process and the Docker engine.

    Raises:
        ReproduceInputError: an input this host cannot provide, named with the difference.
        ArtifactError: the manifest's resolved profile cannot be read.
    """
    from builder.machine.environment import builder_source_digest
    from builder.machine.environment import environment_identity as this_environment
    from builder.machine.gpu import gpu_identity, list_gpus
    from builder.profile.resolved import profile_from_resolved
    from builder.record.buildkey import data_digests

    profile = profile_from_resolved(rec.resolved)
    label = f"profile {rec.profile_name}"
    if profile.sha256() != rec.profile_sha256:
        raise ReproduceInputError(
            f"{label}: this builder reads the recorded profile as sha256 {profile.sha256()[:12]}…, the build used "
            f"{rec.profile_sha256[:12]}… (another builder version's profile fields)",
            hint="reproduce with the builder version that made the build "
            f"({rec.key_inputs.get('builder_version', '?')})",
        )
    if needs_gpu(rec.backend):
        found = list((gpus or list_gpus)())
        if not found:
            raise ReproduceInputError(
                f"{label} needs a GPU ({rec.gpu or 'backend ' + rec.backend}); this host has none",
                hint="run reproduce on a node with the build's GPU model",
            )
        here = gpu_identity(found)
        if rec.gpu and here != rec.gpu:
            raise ReproduceInputError(
                f"{label} was built on GPU {rec.gpu}; this host has {here}",
                hint="a TensorRT plan is bound to its GPU model: run reproduce on a node with that GPU",
            )
    models = _weights_folder(rec, profile, models_dir, shipped, scratch)
    data = data_digests(profile, models)
    for name in sorted(set(rec.key_inputs) & DATA_INPUTS - set(data)):
        raise ReproduceInputError(
            f"{label}: {name} {str(rec.key_inputs[name])[:12]}…: the data set the build read is not under {models_dir}",
            hint=f"restore it into {models_dir}, or pass --models DIR holding it",
        )
    for name, digest in data.items():
        if rec.key_inputs.get(name) not in (None, digest):
            raise ReproduceInputError(
                f"{label}: {name} under {models_dir} is {digest[:12]}…, the build used "
                f"{str(rec.key_inputs[name])[:12]}…",
                hint=f"restore the data set the build read into {models_dir}",
            )
    env_here = (environment_id or this_environment)()
    if env_here == rec.environment_id:  # rebuilt by this process's builder: say when its source is not the build's
        source, here = str(rec.key_inputs.get("builder_source") or ""), builder_source_digest()
        notes = (
            (f"builder source {here[:12]}… differs from the build's {source[:12]}…: a difference may come from the "
             "builder's own code",) if source and source != here else ()
        )  # fmt: skip
        return HostInputs(profile, models, "in-process", notes=notes)
    if rec.environment_id.startswith("bare:"):
        raise ReproduceInputError(
            f"{label} was built bare in environment {rec.environment_id}; this one is {env_here}"
            f"{_package_differences(rec)}",
            hint="install the recorded versions (the manifest's environment.packages) into this Python, "
            "or reproduce on the machine that built it",
        )
    from builder.host.spec import flavour_for_profile

    flavour = flavour_for_profile(profile)
    local = (image_identity or _local_image_identity)(flavour)
    if local is None:
        raise ReproduceInputError(
            f"{label} was built in image {rec.image_ref or flavour} ({rec.environment_id}); no such image here",
            hint=f"build it: `make image FLAVOUR={flavour}` (from the checkout and lock the build used)",
        )
    ref, identity = local
    if identity != rec.environment_id:
        raise ReproduceInputError(
            f"image {ref} has {identity}, the build used {rec.environment_id}",
            hint=f"check out the sources and lock the build used, then `make image FLAVOUR={flavour}`",
        )
    return HostInputs(profile, models, "docker", image_ref=ref)  # the image's builder rebuilds: its key says


def _package_differences(rec: Recorded) -> str:
    import platform

    from builder.machine.environment import package_versions

    here = {"python": platform.python_version(), **package_versions()}
    then = {"python": rec.python, **rec.packages}
    diff = [f"{k} {then.get(k)} -> {here.get(k)}" for k in sorted(set(here) | set(then)) if here.get(k) != then.get(k)]
    return f" ({'; '.join(diff)})" if diff else ""


def _local_image_identity(flavour: str) -> tuple[str, str] | None:
    from builder.host.docker_engine import DockerEngine
    from builder.host.image import DEFAULT_IMAGES, image_key_identity

    info = DockerEngine().image_info(DEFAULT_IMAGES[flavour])
    return None if info is None else (info.ref, image_key_identity(info))


def _weights_folder(rec: Recorded, profile: Profile, models_dir: Path, shipped: Shipped, scratch: Path) -> Path:
    """The models folder whose weights have the recorded digest: ``models_dir`` itself, or an overlay of it with the
    checkpoint path pointing at the file of that digest found elsewhere under ``models_dir`` or in the shipped
    folder. A shipped model YAML (untrained, seeded) needs no file: its identity is its digest.

    Raises:
        ReproduceInputError: no file with the recorded digest.
    """
    from builder.record.weights import weights_fingerprint

    if rec.checkpoint is None:
        here = weights_fingerprint(profile.model, models_dir)
        if here.sha256 != rec.weights_sha256:
            raise ReproduceInputError(
                f"weights {here.identity} have sha256 {here.sha256[:12]}… here, the build used "
                f"{rec.weights_sha256[:12]}…",
                hint="reproduce with the builder version that made the build",
            )
        return models_dir
    wanted = rec.weights_sha256
    at = models_dir / rec.checkpoint
    found = _digest(at)
    if found == wanted:
        return models_dir
    for folder in (models_dir, shipped.folder.parent):
        match = _find_by_digest(folder, wanted)
        if match is not None:
            return _overlay(models_dir, rec.checkpoint, match, scratch / "models")
    there = f"{at} has sha256 {found[:12]}…" if found else f"{at} is absent"
    raise ReproduceInputError(
        f"weights sha256 {wanted[:12]}… ({rec.checkpoint}) not found under {models_dir} ({there})",
        hint=f"put the checkpoint the build used at {at}, or pass --models DIR holding it",
    )


def _digest(path: Path) -> str:
    try:
        return sha256_file(path, what="checkpoint", limit=CHECKPOINT_BYTES) if path.is_file() else ""
    except (OSError, FileReadError):
        return ""


def _find_by_digest(folder: Path, wanted: str) -> Path | None:
    if not folder.is_dir():
        return None
    for path in sorted(folder.rglob("*")):
        if path.suffix in WEIGHT_SUFFIXES and not path.is_symlink() and _digest(path) == wanted:
            return path
    return None


def _overlay(models_dir: Path, checkpoint: str, match: Path, target: Path) -> Path:
    """A folder that looks like ``models_dir`` (links to its entries) with ``checkpoint`` linked to ``match``."""
    parts = Path(checkpoint).parts
    source, here = models_dir, target
    for depth, part in enumerate(parts):
        here.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            for entry in source.iterdir():
                if entry.name != part:
                    (here / entry.name).symlink_to(entry.absolute())
        if depth == len(parts) - 1:
            (here / part).symlink_to(match.absolute())
        source, here = source / part, here / part
    return target


# --- rebuild and verdict -----------------------------------------------------------------------------------------


class Verdict(str, enum.Enum):
    REPRODUCED = "REPRODUCED"
    EQUIVALENT = "EQUIVALENT"
    DIFFERS = "DIFFERS"


@dataclass
class ReproduceResult:
    verdict: Verdict
    shipped: str
    rebuilt_key: str
    lines: list[str] = field(default_factory=list)  # what differs and where, or what was confirmed
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return int(ExitCode.ARTIFACT if self.verdict is Verdict.DIFFERS else ExitCode.OK)


Rebuild = Callable[[HostInputs, Path], Path]  # (inputs, scratch) -> the rebuilt build folder


def reproduce(
    path: Path,
    models_dir: Path,
    *,
    rebuild: Rebuild | None = None,
    log: Callable[[str], None] = print,
    **seams: Any,
) -> ReproduceResult:
    """Rebuild the build behind ``path`` from its recorded inputs in a private temporary folder (removed at the
    end) and compare. ``seams``: see :func:`host_inputs`.

    Raises:
        ReproduceInputError: this host cannot provide a recorded input (exit 3).
        ArtifactError: ``path`` is no build or bundle, or is damaged (exit 5).
        BuilderError: the rebuild failed (its stage's exit code).
    """
    with scratch_folder("ef-reproduce-", "for the rebuild") as scratch:
        with open_shipped(path, scratch / "shipped") as shipped:
            rec = recorded(shipped.manifest)
            inputs = host_inputs(rec, models_dir, shipped, scratch, **seams)
            log(f"rebuilding {rec.profile_name} build {rec.build_id} from its recorded inputs ({inputs.runner}"
                f"{' in ' + inputs.image_ref if inputs.image_ref else ''}) in a private temporary folder")  # fmt: skip
            build_dir = (rebuild or rebuild_here)(inputs, scratch / "rebuild")
            new = read_manifest(build_dir / MANIFEST_NAME)
            result = judge(shipped, rec, build_dir, new)
            result.notes = [*inputs.notes, *result.notes]
            return result


def judge(shipped: Shipped, rec: Recorded, build_dir: Path, new: ManifestView) -> ReproduceResult:
    """The verdict on ``shipped`` against the rebuild in ``build_dir`` (manifest ``new``)."""
    again = recorded(new)
    records, tampered = shipped_records(shipped, rec)
    diffs = compare_artifacts(records, again.artifacts, stable=byte_stable(rec.backend, rec.frozen))
    lines = list(tampered)
    plan_only = True
    for diff in diffs:
        where = shipped.name(diff.path)
        if diff.status is Status.PLAN_BYTES:
            lines.append(f"{where}: plan bytes differ (TensorRT does not promise identical bytes); judged below")
            continue
        plan_only = False
        if diff.status is Status.MISSING:
            lines.append(f"{where}: shipped, but the rebuild has no such artifact")
        elif diff.status is Status.ADDED:
            lines.append(f"{diff.path}: the rebuild has it, the shipped build does not")
        elif diff.status is Status.LAYERS:
            lines.append(f"{where}: {_layer_difference(shipped.folder / diff.path, build_dir / diff.path)}")
        else:
            lines.append(
                f"{where}: sha256 {str(diff.old)[:12]}…, rebuilt {str(diff.new)[:12]}… ({diff.kind}, byte-stable)"
            )
    key_differs, notes = False, []
    if key_of_inputs(rec.key_inputs) != rec.build_key:  # the record itself: its key is the hash of its key inputs
        key_differs = True
        lines.append(f"build key {rec.build_key[:12]}…: the shipped build key does not match its own key inputs")
    elif again.build_key != rec.build_key:
        keys = [k for k in sorted(set(rec.key_inputs) | set(again.key_inputs))
                if rec.key_inputs.get(k) != again.key_inputs.get(k)]  # fmt: skip
        why = f"differs in: {', '.join(keys)}" if keys else "the same key inputs"
        line = f"build key {rec.build_key[:12]}… rebuilt as {again.build_key[:12]}… ({why})"
        if keys and set(keys) <= BUILDER_KEYS:  # the builder's own code: said, and judged by the artifacts
            notes.append(line)
        else:
            key_differs = True
            lines.append(line)
    if not diffs and not tampered and not key_differs:
        return ReproduceResult(Verdict.REPRODUCED, shipped.label, again.build_key, _same_lines(records), notes)
    plan_only = plan_only and not tampered and not key_differs
    if plan_only and again.verify_status == "ok":
        lines.append("the rebuilt plan passed the verify stage against the byte-identical reference ONNX, "
                     "and its per-layer report is identical")  # fmt: skip
        return ReproduceResult(Verdict.EQUIVALENT, shipped.label, again.build_key, lines, notes)
    if plan_only:
        lines.append(f"the rebuilt plan's verify stage: {again.verify_status or 'not run'}")
    return ReproduceResult(Verdict.DIFFERS, shipped.label, again.build_key, lines, notes)


def _same_lines(records: Sequence[Mapping[str, Any]]) -> list[str]:
    return [f"{r['path']}: byte-identical (sha256 {str(r['sha256'])[:12]}…)" for r in records]


def _layer_difference(old: Path, new: Path) -> str:
    """The first layer whose name or tactic differs between two ``layers.json`` files (engine inspector JSON)."""
    try:
        a, b = (json.loads(p.read_text())["Layers"] for p in (old, new))
    except (OSError, ValueError, KeyError, TypeError):
        return "per-layer report differs (layers.json not shipped: its recorded digest differs)"
    if len(a) != len(b):
        return f"per-layer report: {len(a)} layers shipped, {len(b)} rebuilt"
    for index, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            name = x.get("Name", index) if isinstance(x, dict) else index
            keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k)) if isinstance(x, dict) else []
            return f"per-layer report: layer {index} ({name}) differs in {', '.join(keys) or 'its entry'}"
    return "per-layer report differs in its other fields"


def rebuild_here(inputs: HostInputs, scratch: Path) -> Path:
    """The rebuild: in this process, or in the local image of the build's identity through the launcher.

    Raises:
        BuilderError: the rebuild failed.
    """
    artifacts, cache = scratch / "artifacts", scratch / "cache"
    if inputs.runner == "in-process":
        from builder.pipeline.run import BuildSettings, run_build

        settings = BuildSettings(artifacts=artifacts, models=inputs.models, cache_dir=cache, force=True,
                                 argv=("reproduce",), log=lambda line: None)  # fmt: skip
        return run_build(inputs.profile, settings).build_dir
    from builder.host import launch as host_launch
    from builder.host.docker_engine import DockerEngine
    from builder.host.settings import host_settings
    from builder.record.layout import ArtifactLayout

    profiles = scratch / "profiles"
    profiles.mkdir(parents=True)
    (profiles / f"{inputs.profile.name}.yaml").write_text(_profile_document(inputs.profile))
    host = host_settings(profiles, inputs.models, artifacts, cache, image=inputs.image_ref, force=True)
    code = host_launch.launch(inputs.profile.name, host, DockerEngine(), sink=print)
    latest = ArtifactLayout(artifacts, inputs.profile.name).latest_dir()
    if code != 0 or latest is None:
        raise BuilderError(f"reproduce: the rebuild in {inputs.image_ref} exited with code {code}",
                           hint="the lines above name the failing stage")  # fmt: skip
    return latest


def _profile_document(profile: Profile) -> str:
    """The resolved profile as a profile file (JSON is YAML)."""
    from builder.profile.complete import document_from_resolved

    doc = document_from_resolved(profile.to_dict())
    if doc.get("frozen") is None:  # as in Profile.identity_dict: an image of an older builder does not know it
        doc.pop("frozen", None)
    return json.dumps(doc, indent=1, sort_keys=True) + "\n"


def print_result(result: ReproduceResult, *, out: Callable[[str], None] = print) -> None:
    """``NOTE`` lines, the detail lines, then one verdict line."""
    for note in result.notes:
        out(f"NOTE {note}")
    for line in result.lines:
        out(f"  {line}")
    what = {
        Verdict.REPRODUCED: "every artifact rebuilt byte for byte from the recorded inputs",
        Verdict.EQUIVALENT: "byte-stable artifacts identical; the TensorRT plan equivalent (see above)",
        Verdict.DIFFERS: "the rebuild from the recorded inputs differs from what was shipped (lines above)",
    }[result.verdict]
    out(f"{result.verdict.value} {result.shipped}: {what}")

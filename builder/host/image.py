"""Build or find the builder image of a flavour (``make image``).

The base comes from ``images.lock`` (pinned by digest; an unpinned base
warns).  When it can be neither found nor pulled, the cpu flavour falls back
to the local Debian base of :mod:`builder.host.offline_base`, and says so.
Labels record what was used (base reference, its ID, pinned or not, a hash of
the sources) so the launcher can hand it to the manifest.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder import __version__
from builder.common.safe_io import SOURCE_BYTES, TEXT_BYTES, read_bytes
from builder.errors import BuilderError, HostEnvironmentError, UsageError
from builder.host.docker_engine import ContainerEngine, ImageInfo
from builder.host.images_lock import BasePin, read_images_lock
from builder.host.lockfile import TARGETS, download_wheelhouse
from builder.host.offline_base import make_offline_base
from builder.host.progress import PhaseLog
from builder.host.spec import DEFAULT_IMAGES

BASE_REF_LABEL = "engine-foundry.base.ref"
BASE_ID_LABEL = "engine-foundry.base.id"
BASE_PINNED_LABEL = "engine-foundry.base.pinned"
SOURCE_LABEL = "engine-foundry.source-sha256"
DEPS_LABEL = "engine-foundry.deps-sha256"
BASE_DIGEST_LABEL = "org.opencontainers.image.base.digest"
EXTRA_CA_NAME = "ca/extra-ca.pem"  # under requirements/


@dataclass(frozen=True)
class ImageOptions:
    """How to build one flavour (defaults: wheelhouse build on the images.lock base)."""

    flavour: str = "cpu"
    tag: str | None = None  # default: DEFAULT_IMAGES[flavour]
    base_image: str | None = None  # overrides images.lock
    wheelhouse: bool = True  # download the locked wheels on the host; False: pip downloads during the build
    extra_ca: Path | None = None  # PEM bundle trusted by pip during the build
    ultralytics: str | None = None  # another ultralytics distribution (a fork)
    ultralytics_sha256: str | None = None
    mirror: str | None = None  # Debian mirror for the offline base fallback
    no_cache: bool = False  # rebuild every layer


@dataclass(frozen=True)
class BaseChoice:
    build_ref: str  # what FROM names
    ref: str  # the human reference
    image_id: str  # the local ID it resolved to
    pinned: bool


def repo_root() -> Path:
    """The checkout holding the Dockerfile.

    Raises:
        HostEnvironmentError: the builder package is not running from a checkout.
    """
    root = Path(__file__).resolve().parents[2]
    if not (root / "Dockerfile").is_file():
        raise HostEnvironmentError(
            f"no Dockerfile in {root}", hint="run image builds from a checkout of the repository"
        )
    return root


def source_digest(root: Path, flavour: str) -> str:
    """sha256 over every file the image is made of (Dockerfile, lock, builder/); profiles and models are mounted."""
    files = [root / "Dockerfile", root / "pyproject.toml", root / "requirements" / f"{flavour}.txt"]
    files += sorted(p for p in (root / "builder").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    digest = hashlib.sha256()
    for path in files:
        if path.is_file():
            data = read_bytes(path, what="image source file", limit=SOURCE_BYTES)
            digest.update(str(path.relative_to(root)).encode() + b"\0" + data + b"\0")
    return digest.hexdigest()


def choose_base(options: ImageOptions, engine: ContainerEngine, root: Path, log: Callable[[str], None]) -> BaseChoice:
    """The base image to build on: found locally, pulled, or (cpu only) the offline Debian base.

    Raises:
        HostEnvironmentError: no usable base for the trt flavour or an explicit ``base_image``.
    """
    if options.base_image:
        ref = options.base_image
        info = engine.image_info(ref) or engine.pull(ref)
        return BaseChoice(ref, ref, info.id, "@sha256:" in ref or ref.startswith("sha256:"))
    pins = read_images_lock(root / "images.lock")
    if options.flavour not in pins:
        raise UsageError(
            f"images.lock has no entry for flavour {options.flavour!r}",
            hint="add `<flavour> <reference> unpinned` and run `make pin`",
        )
    entry = pins[options.flavour]
    try:
        info = engine.image_info(entry.build_ref) or engine.pull(entry.build_ref)
        return BaseChoice(entry.build_ref, entry.ref, info.id, entry.pinned)
    except BuilderError as err:
        if options.flavour != "cpu" or "cpu-offline" not in pins:
            raise HostEnvironmentError(
                f"base image {entry.build_ref} of the {options.flavour} image is not available: {err.message}",
                hint="log in to its registry (`docker login nvcr.io` for TensorRT) and check the network, "
                "or pass --base-image",
            ) from None
        offline = pins["cpu-offline"]
        log(
            f"[image] base image {entry.build_ref} cannot be pulled ({err.message}); "
            f"using the local Debian base {offline.ref} instead"
        )
    return offline_choice(offline, options, engine, log)


def offline_choice(
    offline: BasePin, options: ImageOptions, engine: ContainerEngine, log: Callable[[str], None]
) -> BaseChoice:
    """The offline Debian base, made with debootstrap when missing."""
    suite = offline.ref.rsplit(":", 1)[-1]
    info = make_offline_base(engine, mirror=options.mirror, suite=suite, log=log)
    pinned = offline.image_id == info.id
    if offline.image_id and not pinned:
        log(f"WARNING {offline.ref} here is {info.id}, not the image ID images.lock pins ({offline.image_id})")
    if offline.local:
        log(f"base {offline.ref} is made on this machine (image ID {info.id}); each build's manifest records that ID")
    return BaseChoice(info.id, offline.ref, info.id, pinned)


def build_image(options: ImageOptions, engine: ContainerEngine, log: Callable[[str], None] = print) -> ImageInfo:
    """Build the ``options.flavour`` image and tag it.

    Raises:
        HostEnvironmentError: no base image, wheels that cannot be downloaded, or a failed build.
    """
    if options.flavour not in TARGETS:
        raise UsageError(f"unknown flavour {options.flavour!r}", hint=f"use one of: {', '.join(sorted(TARGETS))}")
    root = repo_root()
    tag = options.tag or DEFAULT_IMAGES[options.flavour]
    phases = PhaseLog(log)
    base = choose_base(options, engine, root, log)
    local = any(p.local and p.ref == base.ref for p in _pins_or_none(root).values())
    if not base.pinned and not local:
        log(
            f"WARNING base image {base.ref} is not pinned by digest in images.lock; "
            "the build is not reproducible. TIP run `make pin`"
        )
    buildargs = {
        "FLAVOUR": options.flavour,
        "BASE_IMAGE": base.build_ref,
        "VERSION": __version__,
        **_git_facts(root),
    }
    requirements = root / "requirements"
    if options.wheelhouse:
        phases.say(
            f"downloading the wheels of requirements/{options.flavour}.txt "
            f"into requirements/wheelhouse/{options.flavour}"
        )
        download_wheelhouse(requirements, options.flavour, requirements / "wheelhouse" / options.flavour)
        buildargs["WHEELHOUSE"] = f"wheelhouse/{options.flavour}"
    if options.extra_ca is not None:
        buildargs["EXTRA_CA"] = _stage_extra_ca(options.extra_ca, requirements)
    if options.ultralytics:
        buildargs["ULTRALYTICS"] = options.ultralytics
        buildargs["ULTRALYTICS_SHA256"] = options.ultralytics_sha256 or ""
    labels = {
        BASE_REF_LABEL: base.ref,
        BASE_ID_LABEL: base.image_id,
        BASE_PINNED_LABEL: "true" if base.pinned else "false",
        SOURCE_LABEL: source_digest(root, options.flavour),
        DEPS_LABEL: deps_digest(requirements / f"{options.flavour}.txt", options),
    }
    if "@sha256:" in base.build_ref:
        labels[BASE_DIGEST_LABEL] = base.build_ref.split("@", 1)[1]
    log(f"building {tag} (flavour {options.flavour}) on {base.build_ref}")
    phases.say(f"building {tag}: minutes from scratch (its pip step the longest), seconds from the layer cache")
    info = engine.build(root, tag, buildargs, labels, on_line=phases.build_lines, no_cache=options.no_cache)
    state = "pinned" if base.pinned else "made locally" if local else "UNPINNED"
    log(f"built {tag}: {info.id} (base {base.ref}, {state}) in {phases.elapsed():.0f}s")
    from builder.host.image_cleanup import remove_unused_images

    remove_unused_images(engine, flavour=options.flavour, keep_cache=True, log=log)  # the images this build replaced
    return info


def _pins_or_none(root: Path) -> dict[str, BasePin]:
    try:
        return read_images_lock(root / "images.lock")
    except (OSError, BuilderError):
        return {}


def ensure_image(
    flavour: str, engine: ContainerEngine, log: Callable[[str], None] = print, ref: str | None = None
) -> ImageInfo:
    """The image for ``flavour`` (or ``ref``): found locally, else built (the default tags only).

    Raises:
        HostEnvironmentError: a non-default ``ref`` that is not present, or a failed build.
    """
    default = DEFAULT_IMAGES[flavour]
    wanted = ref or default
    info = engine.image_info(wanted)
    if info is None and wanted != default:
        raise HostEnvironmentError(
            f"Docker image {wanted} is not present", hint=f"pull or build it, or leave --image out to use {default}"
        )
    if info is None:
        log(f"image {wanted} is missing: building it now (same as `make image FLAVOUR={flavour}`)")
        return build_image(ImageOptions(flavour=flavour), engine, log)
    stamp = info.labels.get(SOURCE_LABEL)
    try:
        changed = stamp is not None and stamp != source_digest(repo_root(), flavour)
    except HostEnvironmentError:  # not a checkout: nothing to compare with
        changed = False
    if changed:
        log(
            f"WARNING image {wanted} was built from other sources than this checkout. "
            f"TIP rebuild it: `make image FLAVOUR={flavour}`"
        )
    return info


def rebuild_image(
    flavour: str, *, no_cache: bool = False, log: Callable[[str], None] = print, engine: ContainerEngine | None = None
) -> ImageInfo:
    """Build the default image of ``flavour`` again (the nightly's image step); ``no_cache`` rebuilds every layer."""
    if engine is None:
        from builder.host.docker_engine import DockerEngine

        engine = DockerEngine()
    return build_image(ImageOptions(flavour=flavour, no_cache=no_cache), engine, log)


def deps_digest(lock: Path, options: ImageOptions) -> str:
    """sha256 of the locked dependency set an image installs: its lock file and any ultralytics override."""
    digest = hashlib.sha256(lock.read_bytes() if lock.is_file() else b"")
    digest.update(f"\0{options.ultralytics or ''}\0{options.ultralytics_sha256 or ''}".encode())
    return digest.hexdigest()


def image_key_identity(info: ImageInfo) -> str:
    """The environment identity the build key uses for ``info``: its dependency set and base from its labels
    (what :func:`builder.machine.environment.environment_identity` computes in the container), or its ID for an image
    built before those labels existed."""
    from builder.machine.environment import image_identity

    deps, base = info.labels.get(DEPS_LABEL), info.labels.get(BASE_DIGEST_LABEL) or info.labels.get(BASE_ID_LABEL)
    return image_identity(deps, base) if deps and base else f"image:{info.id}"


def provenance_environment(info: ImageInfo) -> dict[str, str]:
    """Variables that tell the container side what it runs in, for the manifest and the build key."""
    from builder.machine.environment import BASE_IDENTITY_ENV, DEPS_ENV

    base = info.labels.get(BASE_REF_LABEL, "unknown")
    env = {
        "ENGINE_FOUNDRY_BASE_IMAGE": base,
        "ENGINE_FOUNDRY_BASE_IMAGE_ID": info.labels.get(BASE_ID_LABEL, "unknown"),
        "ENGINE_FOUNDRY_BASE_PINNED": info.labels.get(BASE_PINNED_LABEL, "unknown"),
    }
    deps, base_identity = (
        info.labels.get(DEPS_LABEL),
        info.labels.get(BASE_DIGEST_LABEL) or info.labels.get(BASE_ID_LABEL),
    )
    if deps and base_identity:
        env.update({DEPS_ENV: deps, BASE_IDENTITY_ENV: base_identity})
    return env


def _stage_extra_ca(source: Path, requirements: Path) -> str:
    if not source.is_file():
        raise UsageError(
            f"extra CA bundle {source} does not exist", hint="pass a PEM file, e.g. /etc/ssl/certs/ca-certificates.crt"
        )
    if b"BEGIN CERTIFICATE" not in read_bytes(source, what="CA bundle", limit=TEXT_BYTES):
        raise UsageError(f"{source} holds no PEM certificate", hint="pass a PEM bundle (-----BEGIN CERTIFICATE-----)")
    target = requirements / EXTRA_CA_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return EXTRA_CA_NAME


def _git_facts(root: Path) -> dict[str, str]:
    """REVISION and CREATED labels from the checkout's HEAD commit (stable for a commit, unlike a clock)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%H %cI"], capture_output=True, text=True, timeout=10
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        out = []
    return {"REVISION": out[0], "CREATED": out[1]} if len(out) == 2 else {}

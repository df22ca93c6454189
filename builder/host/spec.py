"""The container a build runs in, as data: a pure function of (profile, settings).

:func:`container_spec` does no I/O and reads no environment, so its output is
golden-tested (tests/host/golden/) and compared with docker-compose.yml, the
human twin of the launcher.  :mod:`builder.host.docker_engine` turns a
:class:`ContainerSpec` into a real container.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from builder.backends.catalog import flavours, get_backend_entry
from builder.common.jsonable import jsonable
from builder.errors import UsageError

#: where the host folders appear inside the container
PROFILES_MOUNT = "/profiles"
MODELS_MOUNT = "/models"
ARTIFACTS_MOUNT = "/artifacts"
CACHE_MOUNT = "/cache"

#: the image each flavour (see builder/backends/catalog.py) is tagged as by `make image`
DEFAULT_IMAGES = {flavour: f"engine-foundry:{flavour}" for flavour in flavours()}

#: run-time environment: no installs, no downloads, a writable config dir on the tmpfs
BASE_ENVIRONMENT = {
    "YOLO_AUTOINSTALL": "false",
    "YOLO_OFFLINE": "1",
    "ULTRALYTICS_SAFE_LOAD": "1",
    "YOLO_CONFIG_DIR": "/tmp/ultralytics",
    "POLYGRAPHY_AUTOINSTALL_DEPS": "0",
    "PYTHONUNBUFFERED": "1",
    "CUDA_DEVICE_ORDER": "PCI_BUS_ID",  # CUDA device N = nvidia-smi index N (CUDA defaults to fastest-first)
}

#: labels that mark containers the launcher started
MANAGED_LABEL = "engine-foundry.managed"

_GPUS = re.compile(r"^(all|\d+(,\d+)*)$")
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class HostSettings:
    """Host-side choices for one launch (absolute paths; see :mod:`builder.host.settings`)."""

    profiles_dir: Path
    models_dir: Path
    artifacts_dir: Path
    cache_dir: Path
    user: str  # "uid:gid" the container runs as
    image: str | None = None  # image reference; None: the flavour's DEFAULT_IMAGES entry
    image_id: str = ""  # the ID that reference resolved to (filled in by the launcher)
    gpus: str = "all"  # "all", an index ("0") or a list ("0,1"); tensorrt profiles only
    force: bool = False
    allow_large: bool = False  # pass --allow-large (builder/pipeline/resources.py) to the build
    tmpfs_size: str = "2g"
    environment: Mapping[str, str] = field(default_factory=dict)  # extra variables, e.g. image provenance


@dataclass(frozen=True)
class Mount:
    source: str  # absolute host path
    target: str  # path in the container
    read_only: bool


@dataclass(frozen=True)
class GpuRequest:
    """A Docker device request for NVIDIA GPUs: every GPU (count -1) or the listed indices."""

    count: int = 0
    device_ids: tuple[str, ...] = ()
    driver: str = "nvidia"
    capabilities: tuple[str, ...] = ("gpu",)


@dataclass(frozen=True)
class ContainerSpec:
    """Everything Docker needs to start one build container."""

    image: str
    command: tuple[str, ...]
    mounts: tuple[Mount, ...]
    environment: Mapping[str, str]
    user: str
    labels: Mapping[str, str]
    device_requests: tuple[GpuRequest, ...] = ()
    network_mode: str = "none"
    read_only: bool = True
    tmpfs: Mapping[str, str] = field(default_factory=lambda: {"/tmp": "size=2g"})
    cap_drop: tuple[str, ...] = ("ALL",)
    security_opt: tuple[str, ...] = ("no-new-privileges",)
    init: bool = True  # docker-init as PID 1 forwards SIGTERM to the builder

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (tuples as lists), for golden files and logs."""
        data = asdict(self)
        data["environment"] = dict(sorted(self.environment.items()))
        data["labels"] = dict(sorted(self.labels.items()))
        data["tmpfs"] = dict(self.tmpfs)
        return jsonable(data)


def flavour_for_backend(backend: object) -> str:
    """The default image flavour ``backend`` (a ``Backend`` or its value) builds in, from the backend catalogue."""
    return get_backend_entry(backend).flavour


def flavour_for_profile(profile: Any) -> str:
    """The image flavour ``profile`` builds in: its backend's, chosen by the backend's ``version_field``
    (``tensorrt: "10"`` -> ``trt10``) where the catalogue names one."""
    entry = get_backend_entry(profile.backend)
    return entry.flavour_for(getattr(profile, entry.version_field) if entry.version_field else None)


def image_ref_for(backend: object, settings: HostSettings, flavour: str | None = None) -> str:
    """The image reference a profile of ``backend`` runs in (``flavour``: the profile's, else the default)."""
    return settings.image or DEFAULT_IMAGES[flavour or flavour_for_backend(backend)]


def gpu_requests(gpus: str) -> tuple[GpuRequest, ...]:
    """Device requests for ``gpus`` ("all", "0", "0,2").

    Raises:
        UsageError: any other value.
    """
    if not _GPUS.match(gpus):
        raise UsageError(
            f"--gpus {gpus!r} is not 'all' or a comma-separated list of GPU indices",
            hint="e.g. --gpus all, --gpus 0 or --gpus 0,1",
        )
    if gpus == "all":
        return (GpuRequest(count=-1),)
    return (GpuRequest(device_ids=tuple(gpus.split(","))),)


def container_command(profile_name: str, settings: HostSettings) -> tuple[str, ...]:
    """The argv after the image's ENTRYPOINT (``python3 -m builder``)."""
    command: tuple[str, ...] = (
        "build", "--profile", f"{PROFILES_MOUNT}/{profile_name}.yaml", "--artifacts", ARTIFACTS_MOUNT,
        "--models", MODELS_MOUNT, "--cache-dir", CACHE_MOUNT,
    )  # fmt: skip
    if settings.image_id:
        command += ("--image-id", settings.image_id)
    return command + (("--force",) if settings.force else ()) + (("--allow-large",) if settings.allow_large else ())


def container_spec(
    profile_name: str, profile_backend: object, settings: HostSettings, flavour: str | None = None
) -> ContainerSpec:
    """The hardened container that builds profile file ``<profiles_dir>/<profile_name>.yaml``.

    Args:
        profile_name: the profile file's name without ``.yaml``.
        profile_backend: the profile's backend (``Backend`` or its value); GPUs
            are requested for backends that need one (the catalogue's ``needs_gpu``).
        settings: host folders, user, image and GPU choice.
        flavour: the image flavour (:func:`flavour_for_profile`); None: the backend's default.

    Raises:
        UsageError: a profile name that is not a plain file name, or a bad ``gpus`` value.
    """
    if not _PROFILE_NAME.match(profile_name):
        raise UsageError(
            f"profile name {profile_name!r} is not a plain file name", hint="use letters, digits, '.', '_' and '-'"
        )
    flavour = flavour or flavour_for_backend(profile_backend)
    ref = image_ref_for(profile_backend, settings, flavour)
    environment = {**BASE_ENVIRONMENT, "ENGINE_FOUNDRY_IMAGE_REF": ref, **settings.environment}
    if settings.image_id:
        environment["ENGINE_FOUNDRY_IMAGE_ID"] = settings.image_id
    return ContainerSpec(
        image=settings.image_id or ref,
        command=container_command(profile_name, settings),
        mounts=(
            Mount(str(settings.profiles_dir), PROFILES_MOUNT, read_only=True),
            Mount(str(settings.models_dir), MODELS_MOUNT, read_only=True),
            Mount(str(settings.artifacts_dir), ARTIFACTS_MOUNT, read_only=False),
            Mount(str(settings.cache_dir), CACHE_MOUNT, read_only=False),
        ),
        environment=environment,
        user=settings.user,
        labels={
            MANAGED_LABEL: "true",
            "engine-foundry.profile": profile_name,
            "engine-foundry.flavour": flavour,
        },
        device_requests=gpu_requests(settings.gpus) if get_backend_entry(profile_backend).needs_gpu else (),
        tmpfs={"/tmp": f"size={settings.tmpfs_size}"},
    )


def docker_run_argv(spec: ContainerSpec, *, entrypoint: str | None = None, interactive: bool = False) -> list[str]:
    """The ``docker run`` command line equivalent to ``spec`` (for ``make shell`` and for reproducing a launch)."""
    argv = ["docker", "run", "--rm"] + (["-it"] if interactive else [])
    argv += [f"--user={spec.user}", f"--network={spec.network_mode}"]
    argv += ["--read-only"] if spec.read_only else []
    argv += ["--init"] if spec.init else []
    argv += [f"--tmpfs={path}:{options}" for path, options in spec.tmpfs.items()]
    argv += [f"--cap-drop={cap}" for cap in spec.cap_drop]
    argv += [f"--security-opt={opt}" for opt in spec.security_opt]
    for request in spec.device_requests:
        argv.append("--gpus=all" if request.count == -1 else f'--gpus="device={",".join(request.device_ids)}"')
    for mount in spec.mounts:
        argv.append(
            f"--mount=type=bind,source={mount.source},target={mount.target}" + (",readonly" if mount.read_only else "")
        )
    argv += [f"--env={key}={value}" for key, value in sorted(spec.environment.items())]
    argv += [f"--label={key}={value}" for key, value in sorted(spec.labels.items())]
    argv += [f"--entrypoint={entrypoint}"] if entrypoint else []
    return argv + [spec.image, *([] if entrypoint else spec.command)]


def to_host_paths(line: str, mounts: tuple[Mount, ...]) -> str:
    """``line`` with each container mount path (``/artifacts/...``) written as its host path, for the user."""
    for mount in mounts:
        pattern = r"(?<![\w./-])" + re.escape(mount.target) + r"(?=/|\b|$)"
        line = re.sub(pattern, mount.source.replace("\\", "\\\\"), line)  # the source as plain text
    return line

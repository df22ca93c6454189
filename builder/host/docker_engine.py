"""The Docker engine: the container-engine protocol and its docker SDK adapter.

This is the only module that imports ``docker`` (lazily, inside
:class:`DockerEngine` and :class:`DockerContainer`).  Everything else on the
host talks to a :class:`ContainerEngine`; tests use a fake one.  Docker's
failures become :class:`~builder.errors.HostEnvironmentError` with a TIP
through :func:`translate_docker_error`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from builder.errors import HostEnvironmentError, cli
from builder.host.spec import ContainerSpec

GPU_TIP = (
    "install the NVIDIA Container Toolkit (nvidia-container-toolkit), run `sudo nvidia-ctk runtime configure "
    "--runtime=docker` and restart Docker; check with `docker run --rm --gpus all <image> nvidia-smi`"
)


@dataclass(frozen=True)
class ImageInfo:
    """What the engine knows about one local image."""

    id: str  # "sha256:…", the content-addressed image ID
    ref: str  # the name it was looked up by
    repo_digests: tuple[str, ...] = ()  # "name@sha256:…" when it came from a registry
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ImageRecord:
    """One local image as a listing gives it: ID, creation time (ISO text, sortable), size in bytes, labels."""

    id: str
    created: str
    size: int
    labels: Mapping[str, str] = field(default_factory=dict)


class Container(Protocol):
    """A started container."""

    id: str

    def log_lines(self) -> Iterator[str]:
        """Its stdout and stderr, line by line, following until it exits."""

    def wait(self) -> int:
        """Block until it exits; its exit code."""

    def stop(self, timeout: int = 10) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""

    def remove(self) -> None:
        """Delete it (forcefully, if still running)."""


class ContainerEngine(Protocol):
    """The operations the launcher and the image builder need."""

    def image_info(self, ref: str) -> ImageInfo | None:
        """The local image ``ref`` (name, ``name@digest`` or ID), or None when absent."""

    def pull(self, ref: str) -> ImageInfo:
        """Pull ``ref`` from its registry."""

    def build(
        self, context: Path, tag: str, buildargs: Mapping[str, str], labels: Mapping[str, str],
        on_line: Callable[[str], None], no_cache: bool = False,
    ) -> ImageInfo:  # fmt: skip
        """Build ``context``'s Dockerfile into ``tag``, streaming progress lines to ``on_line``."""

    def import_rootfs(self, tarball: Path, ref: str, changes: Sequence[str]) -> ImageInfo:
        """Make image ``ref`` from a root filesystem tarball (``docker import``)."""

    def run(self, spec: ContainerSpec, name: str | None = None) -> Container:
        """Create and start a detached container from ``spec``."""

    def containers_labelled(self, labels: Mapping[str, str]) -> list[str]:
        """IDs of containers (running or not) carrying all ``labels``."""

    def remove_container(self, container_id: str) -> None:
        """Remove a container by ID (forcefully; a missing one is fine)."""

    def dangling_images(self, label: str) -> list[ImageRecord]:
        """Untagged local images carrying ``label`` (``key`` or ``key=value``)."""

    def remove_image(self, image_id: str) -> None:
        """Remove an image by ID (not forced: an image a container uses stays, raising HostEnvironmentError)."""

    def layers_size(self) -> int:
        """Bytes the engine's image layers take on disk (shared layers once), to measure what a removal freed."""


def translate_docker_error(exc: BaseException, *, image: str | None = None) -> HostEnvironmentError:
    """Map a docker SDK / transport failure to a user-facing error with a TIP."""
    text = f"{exc} {getattr(exc, 'explanation', '') or ''}"
    if "could not select device driver" in text:
        detail = (getattr(exc, "explanation", None) or str(exc)).strip()
        return HostEnvironmentError(f"Docker cannot give the container a GPU: {detail}", hint=GPU_TIP)
    if "Permission denied" in text or "PermissionError" in text:
        return HostEnvironmentError(
            f"permission denied on the Docker socket ({docker_host()})",
            hint="add your user to the docker group (`sudo usermod -aG docker $USER`, then log in again), "
            "or run as root",
        )
    markers = (
        "Connection aborted",
        "Connection refused",
        "FileNotFoundError",
        "Error while fetching server API version",
    )
    if any(m in text for m in markers) or type(exc).__name__ in {"ConnectionError", "ReadTimeout"}:
        return HostEnvironmentError(
            f"no Docker engine answers at {docker_host()}",
            hint="start it (`sudo systemctl start docker`, or `sudo dockerd &`), "
            "or point DOCKER_HOST at a running engine",
        )
    if type(exc).__name__ == "ImageNotFound" or "No such image" in text:
        missing = image or "the image"
        return HostEnvironmentError(f"Docker image {missing} is not present", hint=image_hint(missing))
    detail = (getattr(exc, "explanation", None) or str(exc)).strip()
    return HostEnvironmentError(f"Docker failed: {detail}", hint="check `docker info` and the Docker daemon's log")


def image_hint(ref: str, flavour: str | None = None) -> str:
    """The exact command that makes image ``ref`` (of ``flavour``, else guessed from its tag)."""
    tag = ref.rsplit(":", 1)[-1] if ":" in ref.rsplit("/", 1)[-1] else ""
    flavour = flavour or (tag if tag in ("trt", "trt10") else "cpu")
    return f"build it: `make image FLAVOUR={flavour}` (or `{cli(f'image --flavour {flavour}')}`)"


def docker_host() -> str:
    """Where the docker SDK looks for the engine."""
    return os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")


class DockerContainer:
    """A :class:`Container` over a ``docker.models.containers.Container``."""

    def __init__(self, container: Any) -> None:
        self._container = container
        self.id: str = container.id

    def log_lines(self) -> Iterator[str]:
        pending = b""
        for chunk in self._container.logs(stream=True, follow=True):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", "replace").rstrip("\r")
        if pending:
            yield pending.decode("utf-8", "replace")

    def wait(self) -> int:
        return int(self._container.wait()["StatusCode"])

    def stop(self, timeout: int = 10) -> None:
        import docker.errors

        try:
            self._container.stop(timeout=timeout)
        except docker.errors.NotFound:
            pass

    def remove(self) -> None:
        import docker.errors

        try:
            self._container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as err:  # a removal already in progress is fine
            if "already in progress" not in str(err):
                raise

    def inspect(self) -> dict[str, Any]:
        """The engine's full description of the container (``docker inspect``)."""
        self._container.reload()
        return dict(self._container.attrs)


class DockerEngine:
    """The :class:`ContainerEngine` of a Docker daemon, through the docker SDK.

    Raises:
        HostEnvironmentError: no daemon, or no permission to use its socket.
    """

    def __init__(self) -> None:
        import docker

        try:
            self._client = docker.from_env(version="auto")
            self._client.ping()
        except Exception as exc:  # the SDK raises DockerException or a requests error
            raise translate_docker_error(exc) from None

    def image_info(self, ref: str) -> ImageInfo | None:
        import docker.errors

        try:
            image = self._client.images.get(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as exc:
            raise translate_docker_error(exc, image=ref) from None
        return _image_info(image, ref)

    def pull(self, ref: str) -> ImageInfo:
        import docker.errors

        try:
            image = self._client.images.pull(ref)
        except docker.errors.APIError as exc:
            raise HostEnvironmentError(
                f"cannot pull {ref}: {(exc.explanation or str(exc)).strip()}",
                hint="check the network and the registry login (`docker login`), "
                "or build on a local base (docs/docker.md)",
            ) from None
        return _image_info(image, ref)

    def build(
        self, context: Path, tag: str, buildargs: Mapping[str, str], labels: Mapping[str, str],
        on_line: Callable[[str], None], no_cache: bool = False,
    ) -> ImageInfo:  # fmt: skip
        import docker.errors

        try:
            stream = self._client.api.build(
                path=str(context),
                tag=tag,
                buildargs=dict(buildargs),
                labels=dict(labels),
                nocache=no_cache,
                rm=True,
                forcerm=True,
                decode=True,
            )
            for event in stream:
                if "error" in event:
                    raise HostEnvironmentError(
                        f"docker build of {tag} failed: {str(event['error']).strip()}",
                        hint="read the build output above; "
                        "docs/docker.md lists the build options (extra CA, wheelhouse)",
                    )
                for line in str(event.get("stream", "")).splitlines():
                    if line.strip():
                        on_line(line)
        except docker.errors.APIError as exc:
            raise translate_docker_error(exc, image=tag) from None
        info = self.image_info(tag)
        if info is None:
            raise HostEnvironmentError(
                f"docker build of {tag} reported no image", hint="run it again with `docker build` to see why"
            )
        return info

    def import_rootfs(self, tarball: Path, ref: str, changes: Sequence[str]) -> ImageInfo:
        import docker.errors

        repository, _, tag = ref.rpartition(":")
        try:
            self._client.api.import_image(src=str(tarball), repository=repository, tag=tag, changes=list(changes))
        except docker.errors.APIError as exc:
            raise translate_docker_error(exc, image=ref) from None
        info = self.image_info(ref)
        if info is None:
            raise HostEnvironmentError(
                f"docker import produced no image {ref}", hint="check `docker images` and the daemon log"
            )
        return info

    def run(self, spec: ContainerSpec, name: str | None = None) -> DockerContainer:
        import docker.errors
        from docker.types import DeviceRequest, Mount

        device_requests = [
            DeviceRequest(
                driver=d.driver,
                count=d.count,
                device_ids=list(d.device_ids) or None,
                capabilities=[list(d.capabilities)],
            )
            for d in spec.device_requests
        ]
        try:
            container = self._client.containers.create(
                spec.image,
                list(spec.command),
                detach=True,
                name=name,
                mounts=[Mount(m.target, m.source, type="bind", read_only=m.read_only) for m in spec.mounts],
                environment=dict(spec.environment),
                user=spec.user,
                network_mode=spec.network_mode,
                read_only=spec.read_only,
                tmpfs=dict(spec.tmpfs),
                cap_drop=list(spec.cap_drop),
                security_opt=list(spec.security_opt),
                init=spec.init,
                labels=dict(spec.labels),
                device_requests=device_requests,
            )
        except docker.errors.ImageNotFound:
            flavour = spec.labels.get("engine-foundry.flavour")
            raise HostEnvironmentError(
                f"Docker image {spec.image} is not present", hint=image_hint(spec.image, flavour)
            ) from None
        except docker.errors.APIError as exc:
            raise translate_docker_error(exc, image=spec.image) from None
        try:
            container.start()
        except docker.errors.APIError as exc:  # e.g. no GPU driver: leave no created container behind
            container.remove(force=True)
            raise translate_docker_error(exc, image=spec.image) from None
        return DockerContainer(container)

    def containers_labelled(self, labels: Mapping[str, str]) -> list[str]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        return [c.id for c in self._client.containers.list(all=True, filters=filters)]

    def remove_container(self, container_id: str) -> None:
        import docker.errors

        try:
            self._client.containers.get(container_id).remove(force=True)
        except docker.errors.NotFound:
            pass

    def dangling_images(self, label: str) -> list[ImageRecord]:
        images = self._client.images.list(filters={"dangling": True, "label": label})
        return [
            ImageRecord(str(i.id), str(i.attrs.get("Created", "")), int(i.attrs.get("Size") or 0),
                        dict((i.attrs.get("Config") or {}).get("Labels") or {}))
            for i in images
        ]  # fmt: skip

    def layers_size(self) -> int:
        return int(self._client.df().get("LayersSize") or 0)

    def remove_image(self, image_id: str) -> None:
        import docker.errors

        try:
            self._client.images.remove(image_id, noprune=False)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            raise HostEnvironmentError(
                f"cannot remove image {image_id[:19]}: {(exc.explanation or str(exc)).strip()}",
                hint="a container still uses it; `docker ps -a` lists them",
            ) from None


def _image_info(image: Any, ref: str) -> ImageInfo:
    attrs = image.attrs
    return ImageInfo(
        id=str(image.id),
        ref=ref,
        repo_digests=tuple(attrs.get("RepoDigests") or ()),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
    )

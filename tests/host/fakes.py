"""A scripted :class:`builder.host.docker_engine.ContainerEngine` for launcher tests (no Docker)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from builder.errors import HostEnvironmentError
from builder.host.docker_engine import ImageInfo, ImageRecord
from builder.host.spec import ContainerSpec

Script = Callable[["FakeContainer"], Iterator[str]]


def lines(*text: str) -> Script:
    """A container script that prints ``text`` and exits."""

    def script(container: FakeContainer) -> Iterator[str]:
        yield from text

    return script


@dataclass
class FakeContainer:
    spec: ContainerSpec
    name: str | None
    script: Script
    exit_code: int = 0
    id: str = "c0ffee" * 10
    stopped: bool = False
    removed: bool = False
    events: list[str] = field(default_factory=list)

    def log_lines(self) -> Iterator[str]:
        for line in self.script(self):
            if self.stopped:
                return
            yield line

    def wait(self) -> int:
        self.events.append("wait")
        return 137 if self.stopped else self.exit_code

    def stop(self, timeout: int = 10) -> None:
        self.events.append(f"stop({timeout})")
        self.stopped = True

    def remove(self) -> None:
        self.events.append("remove")
        self.removed = True


@dataclass
class FakeEngine:
    """Images in a dict; ``run`` starts a :class:`FakeContainer` that plays ``script``.

    ``on_run(spec)`` lets a test act as the container (write a manifest, fail to start).
    """

    images: dict[str, ImageInfo] = field(default_factory=dict)
    script: Script = lines("[export] started", "[export] ok in 0.1s")
    exit_code: int = 0
    pullable: set[str] = field(default_factory=set)
    on_run: Callable[[ContainerSpec], None] | None = None
    started: list[FakeContainer] = field(default_factory=list)
    builds: list[dict[str, Any]] = field(default_factory=list)
    pulls: list[str] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    untagged: list[ImageRecord] = field(default_factory=list)  # dangling images (the cleanup's candidates)
    in_use: set[str] = field(default_factory=set)  # image IDs a container uses (removal refused)
    sizes: dict[str, int] = field(default_factory=dict)  # bytes a tagged image's own layers take (by its ref)

    def add_image(
        self, ref: str, image_id: str, labels: Mapping[str, str] | None = None, repo_digests: Sequence[str] = ()
    ) -> ImageInfo:
        info = ImageInfo(image_id, ref, tuple(repo_digests), dict(labels or {}))
        self.images[ref] = info
        self.images[image_id] = info
        return info

    def image_info(self, ref: str) -> ImageInfo | None:
        return self.images.get(ref)

    def pull(self, ref: str) -> ImageInfo:
        self.pulls.append(ref)
        if ref not in self.pullable:
            raise HostEnvironmentError(f"cannot pull {ref}: no such host", hint="check the network")
        return self.images.get(ref) or self.add_image(
            ref, "sha256:" + "b" * 64, repo_digests=[f"{ref.rsplit(':', 1)[0]}@sha256:{'d' * 64}"]
        )

    def build(
        self,
        context: Path,
        tag: str,
        buildargs: Mapping[str, str],
        labels: Mapping[str, str],
        on_line: Callable[[str], None],
        no_cache: bool = False,
    ) -> ImageInfo:
        self.builds.append(
            {"context": context, "tag": tag, "buildargs": dict(buildargs), "labels": dict(labels), "no_cache": no_cache}
        )
        on_line("Step 1/1 : FROM " + buildargs["BASE_IMAGE"])
        return self.add_image(tag, "sha256:" + format(len(self.builds), "064x"), labels)

    def import_rootfs(self, tarball: Path, ref: str, changes: Sequence[str]) -> ImageInfo:
        self.imports.append(ref)
        return self.add_image(ref, "sha256:" + "e" * 64)

    def run(self, spec: ContainerSpec, name: str | None = None) -> FakeContainer:
        if self.on_run is not None:
            self.on_run(spec)
        container = FakeContainer(spec, name, self.script, self.exit_code)
        with self.lock:
            self.started.append(container)
        return container

    def containers_labelled(self, labels: Mapping[str, str]) -> list[str]:
        return [
            c.id for c in self.started if not c.removed and all(c.spec.labels.get(k) == v for k, v in labels.items())
        ]

    def dangling_images(self, label: str) -> list[ImageRecord]:
        key, _, value = label.partition("=")
        return [i for i in self.untagged if key in i.labels and (not value or i.labels[key] == value)]

    def remove_image(self, image_id: str) -> None:
        if image_id in self.in_use:
            raise HostEnvironmentError(f"cannot remove image {image_id[:19]}: in use", hint="stop the container")
        self.untagged = [i for i in self.untagged if i.id != image_id]
        if image_id in self.sizes:  # a tag: untagged and its layers freed
            self.images.pop(image_id, None)

    def layers_size(self) -> int:
        return sum(i.size for i in self.untagged) + sum(s for ref, s in self.sizes.items() if ref in self.images)

    def remove_container(self, container_id: str) -> None:
        for container in self.started:
            if container.id == container_id:
                container.remove()

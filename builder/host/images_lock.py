"""``images.lock``: the base images, pinned by digest, and ``make pin`` that resolves them.

One entry per line: ``<key> <reference> <pin>``, where ``pin`` is
``sha256:<registry digest>`` (built from ``reference@sha256:…``; the same on every machine),
``local`` (a base made on each machine, e.g. by ``make offline-base``: no other machine can have its ID, so
its ID is recorded in each build's manifest instead of here) or ``unpinned`` (the digest is not known: builds
warn). ``id:sha256:<local image ID>`` lines of older files are still read.
Keys: ``trt``, ``trt10`` and ``cpu`` (the flavours' bases) and ``cpu-offline`` (the
local Debian base the cpu flavour falls back to when no registry answers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from builder.common.safe_io import TEXT_BYTES, read_text
from builder.errors import BuilderError, UsageError
from builder.host.docker_engine import ContainerEngine

UNPINNED = "unpinned"
LOCAL = "local"
HEADER = """\
# Base images of the Engine Foundry images (docs/docker.md). Rewritten by `make pin` (python3 -m builder pin).
# <key> <reference> <pin>; pin = sha256:<registry digest> | local (made on each machine; its ID goes into the
# build's manifest) | unpinned
"""


@dataclass(frozen=True)
class BasePin:
    """One base image and what it is pinned to."""

    key: str
    ref: str
    pin: str = UNPINNED

    @property
    def pinned(self) -> bool:
        return self.pin not in (UNPINNED, LOCAL)

    @property
    def local(self) -> bool:
        """Made on each machine (``make offline-base``): identified by the build record, not by this file."""
        return self.pin == LOCAL

    @property
    def digest(self) -> str | None:
        """The registry digest ``sha256:…``, if pinned to one."""
        return self.pin if self.pin.startswith("sha256:") else None

    @property
    def image_id(self) -> str | None:
        """The local image ID ``sha256:…``, if pinned to one."""
        return self.pin[3:] if self.pin.startswith("id:") else None

    @property
    def build_ref(self) -> str:
        """What ``FROM`` should name: ``ref@digest``, the image ID, or the bare (unpinned) reference."""
        if self.digest:
            return f"{self.ref.split('@')[0]}@{self.digest}"
        return self.image_id or self.ref


def read_images_lock(path: Path) -> dict[str, BasePin]:
    """Parse ``images.lock``.

    Raises:
        UsageError: a malformed line (says which).
    """
    pins: dict[str, BasePin] = {}
    for number, line in enumerate(read_text(path, what="images.lock", limit=TEXT_BYTES).splitlines(), start=1):
        fields = line.split("#", 1)[0].split()
        if not fields:
            continue
        if len(fields) != 3 or not (fields[2] in (UNPINNED, LOCAL) or fields[2].startswith(("sha256:", "id:sha256:"))):
            raise UsageError(
                f"{path}:{number}: expected `<key> <reference> <pin>`, got {line.strip()!r}",
                hint="fix the line, or restore the file and run `make pin`",
            )
        pins[fields[0]] = BasePin(fields[0], fields[1], fields[2])
    return pins


def render_images_lock(pins: dict[str, BasePin]) -> str:
    width = max((len(p.ref) for p in pins.values()), default=0)
    lines = [f"{p.key:<12} {p.ref:<{width}} {p.pin}" for p in pins.values()]
    return HEADER + "\n".join(lines) + "\n"


def resolve_pin(entry: BasePin, engine: ContainerEngine) -> tuple[BasePin, str]:
    """Pin ``entry`` to what the engine has or can pull; unknown digests stay as they were.

    Returns:
        The (possibly updated) entry and one line saying what happened.
    """
    try:
        info = engine.pull(entry.ref)
    except BuilderError as pull_error:
        local = engine.image_info(entry.ref)
        if local is None:
            return (
                entry,
                f"{entry.key}: {entry.ref} can neither be pulled nor found locally ({pull_error.message}); "
                f"kept {entry.pin}",
            )
        info = local
    repo = repository(entry.ref)
    digests = [d.split("@", 1)[1] for d in info.repo_digests if d.split("@", 1)[0] == repo]
    if digests:
        return replace(entry, pin=digests[0]), f"{entry.key}: {entry.ref} pinned to registry digest {digests[0]}"
    return replace(entry, pin=LOCAL), (
        f"{entry.key}: {entry.ref} is made locally (image ID {info.id} here); not pinned: "
        "no other machine can have that ID, each build's manifest records it"
    )


def repository(ref: str) -> str:
    """``ref`` without its tag and digest: ``nvcr.io/nvidia/tensorrt:23.08-py3`` -> ``nvcr.io/nvidia/tensorrt``."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def pin_images(path: Path, engine: ContainerEngine, log: Callable[[str], None] = print) -> dict[str, BasePin]:
    """Resolve every entry of ``images.lock`` and rewrite it."""
    pins = read_images_lock(path)
    for key, entry in pins.items():
        pins[key], message = resolve_pin(entry, engine)
        log(message)
    path.write_text(render_images_lock(pins))
    return pins

"""Remove the images the project made and no longer uses (every rebuild leaves two untagged ones behind).

Only untagged images carrying the project's ``engine-foundry.flavour`` label are candidates: the previous
image of a flavour (untagged when its tag moved to the new build) and the dependency stage of the Dockerfile
(``engine-foundry.stage=deps``). After a build the newest dependency stage of the flavour is kept: it is the
layer cache that makes the next ``make image`` take seconds. ``make clean`` removes them all. Images other
tools or people made (no such label) are never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from builder.errors import HostEnvironmentError
from builder.host.docker_engine import ContainerEngine, ImageRecord

#: images the Docker tests build (tests/e2e/conftest.py) and leave for the next session's layer cache; `make clean`
#: removes them
TEST_IMAGES = ("engine-foundry-test:cpu",)
FLAVOUR_LABEL = "engine-foundry.flavour"
STAGE_LABEL = "engine-foundry.stage"


@dataclass(frozen=True)
class CleanupResult:
    removed: tuple[str, ...]  # image IDs
    freed_bytes: int
    kept: tuple[str, ...] = ()  # in use by a container, or the layer cache


def unused_images(images: list[ImageRecord], *, keep_cache: bool) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """``(to remove, to keep)`` among the project's untagged images; ``keep_cache`` keeps each flavour's
    newest dependency stage."""
    keep: list[ImageRecord] = []
    if keep_cache:
        newest: dict[str, ImageRecord] = {}
        for image in images:
            if image.labels.get(STAGE_LABEL) == "deps":
                flavour = image.labels.get(FLAVOUR_LABEL, "")
                if flavour not in newest or image.created > newest[flavour].created:
                    newest[flavour] = image
        keep = list(newest.values())
    return [i for i in images if i not in keep], keep


def remove_unused_images(
    engine: ContainerEngine, *, flavour: str | None = None, keep_cache: bool = True, log: Callable[[str], None] = print
) -> CleanupResult:
    """Remove the project's untagged images (of ``flavour``, or every flavour) and say what was freed."""
    label = f"{FLAVOUR_LABEL}={flavour}" if flavour else FLAVOUR_LABEL
    remove, keep = unused_images(engine.dangling_images(label), keep_cache=keep_cache)
    removed, kept = [], [i.id for i in keep]
    before = engine.layers_size() if remove else 0
    for image in sorted(remove, key=lambda i: i.created):
        try:
            engine.remove_image(image.id)
        except HostEnvironmentError as err:
            log(f"kept image {image.id[:19]}: {err.message}")
            kept.append(image.id)
            continue
        removed.append(image.id)
        log(f"removed unused image {image.id[:19]} ({_size(image.size)}, "
            f"{image.labels.get(STAGE_LABEL) or 'old image'} of "
            f"flavour {image.labels.get(FLAVOUR_LABEL, '?')})")  # fmt: skip
    freed = max(0, before - engine.layers_size()) if removed else 0
    return CleanupResult(tuple(removed), freed, tuple(kept))


def _size(size: int) -> str:
    return f"{size / 1e9:.2f} GB" if size >= 1e8 else f"{size / 1e6:.1f} MB"


def tree_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (links not followed)."""
    return sum(p.lstat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def size_text(size: int) -> str:
    """``1.23 GB`` / ``45.6 MB``: how ``make clean`` reports space."""
    return _size(size)

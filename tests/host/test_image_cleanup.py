"""Removing the untagged images the project made: after a rebuild (keeping the layer cache) and on make clean."""

from __future__ import annotations

from builder.host.docker_engine import ImageRecord
from builder.host.image import ImageOptions, build_image
from builder.host.image_cleanup import remove_unused_images
from tests.host.fakes import FakeEngine

OLD_IMAGE = ImageRecord("sha256:" + "1" * 64, "2026-11-29T10:00:00Z", 1_700_000_000, {"engine-foundry.flavour": "cpu"})
OLD_DEPS = ImageRecord("sha256:" + "2" * 64, "2026-11-29T09:59:00Z", 2_100_000_000,
                       {"engine-foundry.flavour": "cpu", "engine-foundry.stage": "deps"})  # fmt: skip
NEW_DEPS = ImageRecord("sha256:" + "3" * 64, "2026-11-29T11:00:00Z", 2_100_000_000,
                       {"engine-foundry.flavour": "cpu", "engine-foundry.stage": "deps"})  # fmt: skip
OTHERS = ImageRecord("sha256:" + "4" * 64, "2026-11-29T08:00:00Z", 500_000_000, {"maintainer": "someone else"})


def test_a_rebuild_removes_the_images_it_replaced_and_keeps_the_newest_layer_cache(engine: FakeEngine) -> None:
    engine.untagged = [OLD_IMAGE, OLD_DEPS, NEW_DEPS, OTHERS]
    engine.add_image("engine-foundry/base:bookworm", "sha256:" + "9" * 64)
    engine.pullable.add("python:3.11-slim-bookworm")
    lines: list[str] = []
    build_image(ImageOptions(flavour="cpu", wheelhouse=False), engine, lines.append)
    assert engine.untagged == [NEW_DEPS, OTHERS]
    assert sum("removed unused image" in line for line in lines) == 2


def test_make_clean_removes_every_unused_project_image_and_says_how_much_it_freed(engine: FakeEngine) -> None:
    engine.untagged = [OLD_IMAGE, OLD_DEPS, NEW_DEPS, OTHERS]
    engine.in_use = {OLD_IMAGE.id}
    result = remove_unused_images(engine, keep_cache=False, log=lambda line: None)
    assert set(result.removed) == {OLD_DEPS.id, NEW_DEPS.id} and result.kept == (OLD_IMAGE.id,)
    assert result.freed_bytes == 4_200_000_000 and engine.untagged == [OLD_IMAGE, OTHERS]  # others are never touched

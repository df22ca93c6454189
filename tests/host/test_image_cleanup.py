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


def test_make_clean_removes_the_test_image_and_counts_the_wheelhouse_in_freed(engine, tmp_path, capsys) -> None:
    """Issue 22 item 5: `make test` left a 1.7 GB engine-foundry-test:cpu that clean neither removed nor named,
    and the wheelhouse it removed was missing from "freed"."""
    from builder.host.commands import clean
    from builder.host.image_cleanup import TEST_IMAGES

    wheels = tmp_path / "requirements" / "wheelhouse" / "cpu"
    wheels.mkdir(parents=True)
    (wheels / "numpy.whl").write_bytes(b"w" * 3_000_000)
    (test_image,) = TEST_IMAGES
    engine.add_image(test_image, "sha256:" + "5" * 64)
    engine.sizes[test_image] = 1_700_000_000
    engine.untagged = [OLD_IMAGE]
    assert clean(tmp_path, lambda: engine) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"removed {tmp_path / 'requirements' / 'wheelhouse'} (3.0 MB)" in out
    assert f"removed test image {test_image} (the Docker tests build it; `make test` makes it again)" in out
    assert engine.image_info(test_image) is None and not wheels.exists()
    assert out[-1] == (
        "clean: removed 1 unused image(s) the project made and 1 test image(s), freed 3.40 GB "
        "(images 3.40 GB, files 3.0 MB) (artifacts are never removed)"
    )

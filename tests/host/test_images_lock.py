"""images.lock: parse, render, and `make pin` against a fake engine (registry digest, local image ID, unreachable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.errors import UsageError
from builder.host.images_lock import BasePin, pin_images, read_images_lock, render_images_lock, repository
from tests.host.fakes import FakeEngine
from tests.support import REPO

DIGEST = "sha256:" + "d" * 64


def test_shipped_lock_has_every_flavour() -> None:
    pins = read_images_lock(REPO / "images.lock")
    assert {"trt", "cpu", "cpu-offline"} <= set(pins)
    assert pins["trt"].ref == "nvcr.io/nvidia/tensorrt:23.08-py3"


def test_build_ref_uses_the_pin() -> None:
    assert (
        BasePin("trt", "nvcr.io/nvidia/tensorrt:23.08-py3", DIGEST).build_ref
        == f"nvcr.io/nvidia/tensorrt:23.08-py3@{DIGEST}"
    )
    assert BasePin("cpu-offline", "engine-foundry/base:bookworm", f"id:{DIGEST}").build_ref == DIGEST
    unpinned = BasePin("cpu", "python:3.11-slim-bookworm")
    assert unpinned.build_ref == "python:3.11-slim-bookworm" and not unpinned.pinned


@pytest.mark.parametrize(
    ("ref", "repo"),
    [
        ("nvcr.io/nvidia/tensorrt:23.08-py3", "nvcr.io/nvidia/tensorrt"),
        ("python:3.11", "python"),
        ("localhost:5000/x", "localhost:5000/x"),
        (f"python@{DIGEST}", "python"),
    ],
)
def test_repository(ref: str, repo: str) -> None:
    assert repository(ref) == repo


def test_round_trip(tmp_path: Path) -> None:
    pins = {
        "trt": BasePin("trt", "nvcr.io/nvidia/tensorrt:23.08-py3", DIGEST),
        "cpu": BasePin("cpu", "python:3.11-slim-bookworm"),
    }
    path = tmp_path / "images.lock"
    path.write_text(render_images_lock(pins))
    assert read_images_lock(path) == pins


def test_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "images.lock"
    path.write_text("# comment\ntrt nvcr.io/nvidia/tensorrt:23.08-py3 latest\n")
    with pytest.raises(UsageError, match=r"images.lock:2: expected"):
        read_images_lock(path)


def test_pin_resolves_registry_digests_local_ids_and_keeps_the_unknown(tmp_path: Path) -> None:
    path = tmp_path / "images.lock"
    path.write_text(render_images_lock({
        "trt": BasePin("trt", "nvcr.io/nvidia/tensorrt:23.08-py3"),
        "cpu": BasePin("cpu", "python:3.11-slim-bookworm", "sha256:" + "0" * 64),
        "cpu-offline": BasePin("cpu-offline", "engine-foundry/base:bookworm"),
    }))  # fmt: skip
    engine = FakeEngine(pullable={"nvcr.io/nvidia/tensorrt:23.08-py3"})
    engine.add_image("engine-foundry/base:bookworm", "sha256:" + "e" * 64)
    said: list[str] = []
    pins = pin_images(path, engine, said.append)
    assert pins["trt"].pin == DIGEST
    assert pins["cpu"].pin == "sha256:" + "0" * 64, "a digest that cannot be re-resolved is kept"
    assert pins["cpu-offline"].pin == "local" and not pins["cpu-offline"].pinned, "a local image ID is never pinned"
    assert "id:" not in path.read_text() and read_images_lock(path) == pins
    assert any("can neither be pulled nor found locally" in line for line in said)


def test_the_shipped_lock_pins_only_what_every_machine_can_have() -> None:
    pins = read_images_lock(REPO / "images.lock")
    assert all(p.pin in ("unpinned", "local") or p.pin.startswith("sha256:") for p in pins.values())
    assert pins["cpu-offline"].local

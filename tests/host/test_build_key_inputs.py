"""The build key changes only when the output can: not with an image rebuild, not with another profile's edit;
always with the dependency set or the builder's own code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from builder.host import image as image_module
from builder.host.image import (
    DEPS_LABEL,
    ImageOptions,
    build_image,
    image_key_identity,
    provenance_environment,
    source_digest,
)
from builder.host.images_lock import BasePin, render_images_lock
from builder.host.launch import host_build_key
from builder.host.spec import HostSettings
from builder.machine import environment
from builder.profile import load_profile
from builder.record import buildkey
from tests.host.fakes import FakeEngine
from tests.support import REPO

PROFILES = ("cpu-fp32", "tiny-cpu", "a10-fp16", "t4-fp16")


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "checkout"
    (root / "requirements").mkdir(parents=True)
    shutil.copy(REPO / "Dockerfile", root / "Dockerfile")
    shutil.copy(REPO / "requirements" / "cpu.txt", root / "requirements" / "cpu.txt")
    shutil.copytree(REPO / "builder", root / "builder", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "images.lock").write_text(render_images_lock({
        "cpu": BasePin("cpu", "python:3.11-slim-bookworm"),
        "cpu-offline": BasePin("cpu-offline", "engine-foundry/base:bookworm", "local"),
    }))  # fmt: skip
    monkeypatch.setattr(image_module, "repo_root", lambda: root)
    return root


def _keys(host: HostSettings, info) -> dict[str, str]:
    return {name: host_build_key(load_profile(name, host.profiles_dir), host, info) for name in PROFILES}


def _engine() -> FakeEngine:
    engine = FakeEngine()
    engine.add_image("engine-foundry/base:bookworm", "sha256:" + "7" * 64)
    return engine


def test_rebuilding_the_image_from_an_unchanged_tree_keeps_every_key(checkout: Path, host: HostSettings) -> None:
    engine = _engine()
    first = build_image(ImageOptions(flavour="cpu", wheelhouse=False, no_cache=True), engine, lambda line: None)
    second = build_image(ImageOptions(flavour="cpu", wheelhouse=False, no_cache=True), engine, lambda line: None)
    assert first.id != second.id  # what a from-scratch rebuild gives (three IDs for one tree in issue 9)
    assert _keys(host, first) == _keys(host, second)


def test_the_container_computes_the_same_environment_identity_as_the_host(checkout: Path, monkeypatch) -> None:
    info = build_image(ImageOptions(flavour="cpu", wheelhouse=False), _engine(), lambda line: None)
    for name, value in provenance_environment(info).items():
        monkeypatch.setenv(name, value)
    assert environment.environment_identity(info.id) == image_key_identity(info)
    assert info.id not in image_key_identity(info)


def test_editing_one_profile_keeps_the_other_profiles_keys_and_the_image_current(
    checkout: Path, host: HostSettings
) -> None:
    info = build_image(ImageOptions(flavour="cpu", wheelhouse=False), _engine(), lambda line: None)
    before, image_source = _keys(host, info), source_digest(checkout, "cpu")
    tiny = host.profiles_dir / "tiny-cpu.yaml"
    tiny.write_text(tiny.read_text() + "verify:\n  seed: 7\n")
    after = _keys(host, info)
    assert after["tiny-cpu"] != before["tiny-cpu"]
    assert {k: v for k, v in after.items() if k != "tiny-cpu"} == {k: v for k, v in before.items() if k != "tiny-cpu"}
    (checkout / "profiles").mkdir()
    (checkout / "profiles" / "new.yaml").write_text("name: new\nextends: cpu-fp32\n")
    assert source_digest(checkout, "cpu") == image_source  # profiles are mounted, not part of the image
    assert "COPY profiles" not in (REPO / "Dockerfile").read_text()


def test_a_dependency_change_changes_every_key(checkout: Path, host: HostSettings) -> None:
    info = build_image(ImageOptions(flavour="cpu", wheelhouse=False), _engine(), lambda line: None)
    relocked = type(info)(info.id, info.ref, info.repo_digests, {**info.labels, DEPS_LABEL: "f" * 64})
    before, after = _keys(host, info), _keys(host, relocked)
    assert all(before[name] != after[name] for name in PROFILES)


def test_a_builder_code_change_changes_every_key(checkout: Path, host: HostSettings, monkeypatch) -> None:
    copy = checkout / "builder"
    assert environment.builder_source_digest(copy) == environment.builder_source_digest()
    (copy / "__pycache__").mkdir(exist_ok=True)
    (copy / "__pycache__" / "x.pyc").write_bytes(b"compiled")
    assert environment.builder_source_digest(copy) == environment.builder_source_digest(), "bytecode is not source"
    (copy / "pipeline" / "run.py").write_text((copy / "pipeline" / "run.py").read_text() + "\n# changed\n")
    changed = environment.builder_source_digest(copy)
    assert changed != environment.builder_source_digest()

    info = build_image(ImageOptions(flavour="cpu", wheelhouse=False), _engine(), lambda line: None)
    before = _keys(host, info)
    monkeypatch.setattr(buildkey, "builder_source_digest", lambda root=None: changed)  # the checkout's code, edited
    after = _keys(host, info)
    assert all(before[name] != after[name] for name in PROFILES)

"""The backend catalogue: one entry per backend, and every reader takes its facts from there."""

from __future__ import annotations

import importlib
import re

import pytest

from builder.backends import catalog
from builder.backends.catalog import BackendEntry, backend_for_flavour, backends, build_packages, find_backend
from builder.backends.registry import get_backend
from builder.errors import ArtifactError, UsageError
from builder.host.commands import FLAVOURS
from builder.host.spec import DEFAULT_IMAGES
from builder.profile.resolved import profile_from_resolved
from tests.support import REPO, make_profile


def test_each_entry_is_complete_and_consistent() -> None:
    for entry in backends():
        assert entry.precisions and set(entry.precisions) <= {"fp32", "fp16", "int8"}, entry.name
        assert (REPO / "requirements" / f"{entry.flavour}.in").is_file(), entry.name
        assert entry.module.startswith("builder.backends."), entry.name
        module, _, function = entry.host_check.partition(":")
        assert callable(getattr(importlib.import_module(module), function)), entry.host_check


#: packages an image's base provides instead of pip (requirements/trt.in: "TensorRT itself (8.6) comes from the
#: base image, never from pip")
FROM_BASE_IMAGE = {("trt", "tensorrt")}


def test_backend_packages_are_in_the_flavour_requirements_or_the_base_image() -> None:
    """What doctor demands of a backend is what its image installs."""
    for entry in backends():
        wanted = (REPO / "requirements" / f"{entry.flavour}.in").read_text(encoding="utf-8")
        names = {re.split(r"[=<>\[ ]", line)[0] for line in wanted.splitlines() if line and not line.startswith("#")}
        for package in build_packages(entry):
            assert package in names or (entry.flavour, package) in FROM_BASE_IMAGE, (entry.name, package)


def test_registry_imports_the_catalogued_module() -> None:
    for entry in backends():
        if entry.name == "tensorrt":
            continue  # the module imports tensorrt lazily too, but its tests live under tests/backends/tensorrt
        assert get_backend(entry.name).NAME == entry.name
    with pytest.raises(UsageError, match="unknown backend 'openvino'") as caught:
        get_backend("openvino")
    assert caught.value.hint == "choose one of: onnxruntime, tensorrt"


def test_flavours_images_and_the_shell_backend_come_from_the_catalogue() -> None:
    assert FLAVOURS == ("cpu", "trt", "trt10")
    assert DEFAULT_IMAGES == {"cpu": "engine-foundry:cpu", "trt": "engine-foundry:trt", "trt10": "engine-foundry:trt10"}
    assert backend_for_flavour("trt").name == "tensorrt" and backend_for_flavour("cpu").name == "onnxruntime"
    assert backend_for_flavour("trt10").name == "tensorrt"
    with pytest.raises(KeyError):
        backend_for_flavour("openvino")


def test_a_name_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already in the catalogue"):
        catalog.register_backend(BackendEntry("tensorrt", "again", "x", "trt", (), ("fp32",), "x:y"))
    assert find_backend("tensorrt") is catalog.TENSORRT


def test_a_resolved_profile_is_read_through_the_field_table() -> None:
    profile = make_profile()
    assert profile_from_resolved(profile.to_dict()) == profile
    bad = {**profile.to_dict(), "precision": "fp16"}  # onnxruntime builds fp32 and int8: the catalogue's rule applies
    with pytest.raises(ArtifactError, match="backend onnxruntime supports only fp32, int8, got fp16"):
        profile_from_resolved(bad)
    with pytest.raises(ArtifactError, match="missing required key 'backend'"):
        profile_from_resolved({k: v for k, v in profile.to_dict().items() if k != "backend"})

"""Session fixtures on the real Docker engine: the local Debian base, the cpu test image, a profiles folder.

Without a Docker engine these tests skip, except under CI (CI=true), where .ci/run starts one and a missing
engine is a failure. The base image is cached by its tag and the image by Docker's layer cache, so a second
session only re-checks them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from builder.errors import BuilderError
from builder.host.docker_engine import DockerEngine, ImageInfo
from builder.host.image_cleanup import TEST_IMAGES
from tests.support import copy_profiles, link_shipped_models, write_tiny_profile

(TEST_IMAGE,) = TEST_IMAGES  # `make clean` removes it


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI runs the Docker tests, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> DockerEngine:
    try:
        return DockerEngine()
    except BuilderError as err:
        _unavailable(f"no Docker engine: {err.message}")
        raise


@pytest.fixture(scope="session")
def cpu_image(docker_engine: DockerEngine) -> ImageInfo:
    """The cpu image, built as `make image FLAVOUR=cpu` does (base from images.lock, else the offline base)."""
    from builder.host.image import ImageOptions, build_image

    if os.geteuid() != 0 and docker_engine.image_info("engine-foundry/base:bookworm") is None:
        _unavailable("making the offline base needs root")
    lines: list[str] = []
    try:
        info = build_image(ImageOptions(flavour="cpu", tag=TEST_IMAGE), docker_engine, lines.append)
    except BuilderError as err:
        pytest.fail(f"the cpu image did not build: {err.message}\n" + "\n".join(lines[-30:]))
    probe = subprocess.run(
        ["docker", "run", "--rm", "--network=none", info.id, "build", "--help"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"the image's CLI has no working `build` command yet: {probe.stderr.strip()[-300:]}")
    return info


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """profiles/ (the shipped ones plus e2e-cpu), models/ (the shipped fixtures: the GPU profiles build the trained
    one), artifacts/, cache/ for one test module."""
    root = tmp_path_factory.mktemp("e2e")
    write_tiny_profile(copy_profiles(root / "profiles"), "e2e-cpu")
    link_shipped_models(root / "models")
    return root

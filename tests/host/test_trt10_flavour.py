"""Issue 10, item 9: the trt10 image (TensorRT 10.8 on NGC 25.01), chosen per profile by ``tensorrt: "10"``.

Facts of the base, kept next to the pin (images.lock, requirements/trt10.in): NGC 25.01 = TensorRT 10.8.0.43,
CUDA 12.8.0.038, CPython 3.12.3 (Triton compatibility table, row 25.01; Triton 25.01 release notes: CUDA 12.8.0.038,
compute capability 7.5 and later including Blackwell).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from builder.backends.catalog import TENSORRT, backend_for_flavour, flavours, get_backend_entry
from builder.host import image as image_module
from builder.host.docker_engine import image_hint
from builder.host.image import ImageOptions, build_image, source_digest
from builder.host.images_lock import BasePin, read_images_lock, render_images_lock
from builder.host.lockfile import TARGETS, target_pip_args
from builder.host.spec import DEFAULT_IMAGES, container_spec, flavour_for_profile
from builder.profile import load_profile
from tests.host.fakes import FakeEngine
from tests.host.test_spec import settings
from tests.support import REPO

GOLDEN = Path(__file__).parent / "golden"
DIGEST = "sha256:" + "c" * 64


def test_the_catalogue_gives_tensorrt_two_images_picked_by_the_profile() -> None:
    assert flavours() == ("cpu", "trt", "trt10")
    assert TENSORRT.all_flavours() == ("trt", "trt10") and TENSORRT.versions() == ("8.6", "10")
    assert [TENSORRT.flavour_for(v) for v in (None, "8.6", "10")] == ["trt", "trt", "trt10"]
    assert backend_for_flavour("trt10") is TENSORRT and backend_for_flavour("trt") is TENSORRT
    assert get_backend_entry("onnxruntime").flavour_for("10") == "cpu"  # one image: the key means nothing there
    with pytest.raises(KeyError, match="no image for tensorrt '9'"):
        TENSORRT.flavour_for("9")
    assert DEFAULT_IMAGES["trt10"] == "engine-foundry:trt10"


@pytest.mark.parametrize(
    ("name", "flavour"),
    [("b200-fp16", "trt10"), ("h100-fp8", "trt10"), ("h100-fp16", "trt"), ("a10-int8", "trt"), ("cpu-fp32", "cpu")],
)
def test_shipped_profiles_pick_their_image(name: str, flavour: str) -> None:
    assert flavour_for_profile(load_profile(name, REPO / "profiles")) == flavour


def test_trt10_container_spec_matches_golden() -> None:
    profile = load_profile("b200-fp16", REPO / "profiles")
    host = settings(
        environment={
            "ENGINE_FOUNDRY_BASE_IMAGE": "nvcr.io/nvidia/tensorrt:25.01-py3",
            "ENGINE_FOUNDRY_BASE_PINNED": "false",
        }
    )
    actual = container_spec("b200-fp16", profile.backend, host, flavour_for_profile(profile)).to_dict()
    golden = GOLDEN / "container_spec_b200-fp16-trt10.json"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(json.dumps(actual, indent=2) + "\n")
    assert actual == json.loads(golden.read_text()), (
        f"regenerate with UPDATE_GOLDEN=1 if the change is intended: {golden}"
    )
    assert actual["environment"]["ENGINE_FOUNDRY_IMAGE_REF"] == "engine-foundry:trt10"
    assert actual["labels"]["engine-foundry.flavour"] == "trt10" and actual["device_requests"][0]["count"] == -1


def test_images_lock_names_the_trt10_base() -> None:
    pin = read_images_lock(REPO / "images.lock")["trt10"]
    assert pin.ref == "nvcr.io/nvidia/tensorrt:25.01-py3"


def test_trt10_image_builds_on_its_own_base_with_its_own_lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "checkout"
    (root / "requirements").mkdir(parents=True)
    shutil.copy(REPO / "Dockerfile", root / "Dockerfile")
    for name in ("trt.txt", "trt10.txt"):
        shutil.copy(REPO / "requirements" / name, root / "requirements" / name)
    (root / "images.lock").write_text(render_images_lock({
        "trt": BasePin("trt", "nvcr.io/nvidia/tensorrt:23.08-py3", "sha256:" + "d" * 64),
        "trt10": BasePin("trt10", "nvcr.io/nvidia/tensorrt:25.01-py3", DIGEST),
    }))  # fmt: skip
    monkeypatch.setattr(image_module, "repo_root", lambda: root)
    engine = FakeEngine()
    engine.add_image(f"nvcr.io/nvidia/tensorrt:25.01-py3@{DIGEST}", "sha256:" + "f" * 64)
    build_image(ImageOptions(flavour="trt10", wheelhouse=False), engine)
    (build,) = engine.builds
    assert build["buildargs"]["FLAVOUR"] == "trt10"
    assert build["buildargs"]["BASE_IMAGE"] == f"nvcr.io/nvidia/tensorrt:25.01-py3@{DIGEST}"
    assert build["tag"] == "engine-foundry:trt10"
    # the two TensorRT images are told apart by their lock: a change to trt10.txt stales trt10 only
    before = (source_digest(root, "trt"), source_digest(root, "trt10"))
    (root / "requirements" / "trt10.txt").write_text("changed\n")
    assert source_digest(root, "trt") == before[0] and source_digest(root, "trt10") != before[1]


def test_dockerfile_checks_tensorrt_and_runs_the_smoke_test_in_both_tensorrt_images() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'case "$FLAVOUR" in trt|trt10) /opt/venv/bin/python -c "import tensorrt' in dockerfile
    assert 'if [ "$FLAVOUR" != cpu ]; then' in dockerfile and "builder.backends.tensorrt.smoke" in dockerfile


def test_trt10_lock_targets_cpython_312_of_ubuntu_2404_and_keeps_numpy_1() -> None:
    assert TARGETS["trt10"] == ("3.12", 39)  # NGC 25.01: CPython 3.12.3 on Ubuntu 24.04 (glibc 2.39)
    args = target_pip_args("trt10")
    assert "--python-version=3.12" in args and "--platform=manylinux_2_39_x86_64" in args
    text = (REPO / "requirements" / "trt10.txt").read_text()
    assert text.startswith("# Hash-locked dependencies of the trt10 image (CPython 3.12, x86_64, glibc 2.39).")
    locked = dict(re.findall(r"^([a-z0-9._-]+)==(\S+) \\$", text, flags=re.M))
    assert locked["numpy"].startswith("1.") and locked["opencv-python-headless"].startswith("4.")
    assert "tensorrt" not in locked  # TensorRT comes from the base image, never from pip
    blocks = re.findall(r"^\S+==\S+ \\\n((?:    --hash=sha256:[0-9a-f]{64}(?: \\\n)?)+)", text, flags=re.M)
    assert len(blocks) == len(locked) > 0  # every package hash-pinned


def test_image_hints_name_the_flavour_of_the_tag() -> None:
    assert "make image FLAVOUR=trt10" in image_hint("engine-foundry:trt10")
    assert "make image FLAVOUR=trt`" in image_hint("engine-foundry:trt")
    assert "make image FLAVOUR=cpu" in image_hint("localhost:5000/engine-foundry")


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_passes_the_trt10_flavour_and_the_test_gpu_image() -> None:
    def make(*args: str) -> str:
        argv = ["make", "--no-print-directory", "PYTHON=python3", "-n", *args]
        return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()

    assert make("image", "FLAVOUR=trt10") == "python3 -m builder image --flavour trt10"
    assert make("shell", "FLAVOUR=trt10") == "python3 -m builder shell --flavour trt10"
    assert make("test-gpu", "IMAGE=engine-foundry:trt10") == "python3 -m builder test-gpu --image engine-foundry:trt10"
    assert make("test-gpu") == "python3 -m builder test-gpu"

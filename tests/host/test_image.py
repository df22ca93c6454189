"""Image building decisions: base from images.lock, pull, offline fallback (cpu only), warnings, build args, labels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from builder.errors import HostEnvironmentError, UsageError
from builder.host import image as image_module
from builder.host.image import ImageOptions, build_image, ensure_image, provenance_environment
from builder.host.images_lock import BasePin, render_images_lock
from tests.host.fakes import FakeEngine
from tests.support import REPO

DIGEST = "sha256:" + "d" * 64
OFFLINE_ID = "sha256:" + "e" * 64


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A minimal checkout (Dockerfile, images.lock, requirements) that image.py works on."""
    root = tmp_path / "checkout"
    (root / "requirements").mkdir(parents=True)
    shutil.copy(REPO / "Dockerfile", root / "Dockerfile")
    shutil.copy(REPO / "requirements" / "cpu.txt", root / "requirements" / "cpu.txt")
    (root / "images.lock").write_text(render_images_lock({
        "trt": BasePin("trt", "nvcr.io/nvidia/tensorrt:23.08-py3", DIGEST),
        "cpu": BasePin("cpu", "python:3.11-slim-bookworm"),
        "cpu-offline": BasePin("cpu-offline", "engine-foundry/base:bookworm", f"id:{OFFLINE_ID}"),
    }))  # fmt: skip
    monkeypatch.setattr(image_module, "repo_root", lambda: root)
    return root


def test_cpu_falls_back_to_the_offline_base_and_says_so(checkout: Path) -> None:
    engine = FakeEngine()
    engine.add_image("engine-foundry/base:bookworm", OFFLINE_ID)
    said: list[str] = []
    info = build_image(ImageOptions(flavour="cpu", wheelhouse=False), engine, said.append)
    assert engine.pulls == ["python:3.11-slim-bookworm"]
    assert any(
        "cannot be pulled" in line and "using the local Debian base engine-foundry/base:bookworm" in line
        for line in said
    )
    (build,) = engine.builds
    assert build["buildargs"] == {"FLAVOUR": "cpu", "BASE_IMAGE": OFFLINE_ID, "VERSION": build["buildargs"]["VERSION"]}
    assert build["labels"]["engine-foundry.base.ref"] == "engine-foundry/base:bookworm"
    assert build["labels"]["engine-foundry.base.pinned"] == "true", "the offline base matches its pinned image ID"
    assert info.ref == "engine-foundry:cpu" and build["context"] == checkout
    assert not any(line.startswith("WARNING base image") for line in said)


def test_unpinned_base_warns_and_is_labelled(checkout: Path) -> None:
    engine = FakeEngine(pullable={"python:3.11-slim-bookworm"})
    said: list[str] = []
    build_image(ImageOptions(flavour="cpu", wheelhouse=False), engine, said.append)
    assert any(
        line.startswith("WARNING base image python:3.11-slim-bookworm is not pinned") and "make pin" in line
        for line in said
    )
    assert engine.builds[0]["buildargs"]["BASE_IMAGE"] == "python:3.11-slim-bookworm"
    assert engine.builds[0]["labels"]["engine-foundry.base.pinned"] == "false"


def test_trt_without_its_base_is_a_clear_error(checkout: Path) -> None:
    with pytest.raises(
        HostEnvironmentError, match=rf"base image nvcr.io/nvidia/tensorrt:23.08-py3@{DIGEST} of the trt image"
    ) as err:
        build_image(ImageOptions(flavour="trt", wheelhouse=False), FakeEngine())
    assert "docker login nvcr.io" in (err.value.hint or "")


def test_pinned_registry_base_is_built_by_digest(checkout: Path) -> None:
    engine = FakeEngine()
    engine.add_image(f"nvcr.io/nvidia/tensorrt:23.08-py3@{DIGEST}", "sha256:" + "f" * 64)
    build_image(
        ImageOptions(
            flavour="trt", wheelhouse=False, ultralytics="my-ultralytics==8.4.190", ultralytics_sha256="ab" * 32
        ),
        engine,
    )
    (build,) = engine.builds
    assert build["buildargs"]["BASE_IMAGE"] == f"nvcr.io/nvidia/tensorrt:23.08-py3@{DIGEST}"
    assert (
        build["buildargs"]["ULTRALYTICS"] == "my-ultralytics==8.4.190"
        and build["buildargs"]["ULTRALYTICS_SHA256"] == "ab" * 32
    )
    assert build["labels"]["org.opencontainers.image.base.digest"] == DIGEST


def test_wheelhouse_and_extra_ca_become_build_inputs(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    downloads: list[tuple[str, Path]] = []

    def fake_download(requirements: Path, flavour: str, dest: Path) -> Path:
        downloads.append((flavour, dest))
        return dest

    monkeypatch.setattr(image_module, "download_wheelhouse", fake_download)
    ca = tmp_path / "proxy-ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    engine = FakeEngine()
    engine.add_image("engine-foundry/base:bookworm", OFFLINE_ID)
    build_image(ImageOptions(flavour="cpu", extra_ca=ca), engine, lambda line: None)
    args = engine.builds[0]["buildargs"]
    assert (
        downloads == [("cpu", checkout / "requirements" / "wheelhouse" / "cpu")]
        and args["WHEELHOUSE"] == "wheelhouse/cpu"
    )
    assert (
        args["EXTRA_CA"] == "ca/extra-ca.pem"
        and (checkout / "requirements" / "ca" / "extra-ca.pem").read_text() == ca.read_text()
    )


def test_extra_ca_must_be_a_pem_file(checkout: Path, tmp_path: Path) -> None:
    (tmp_path / "not.pem").write_text("hello")
    with pytest.raises(UsageError, match="no PEM certificate"):
        build_image(
            ImageOptions(flavour="cpu", wheelhouse=False, extra_ca=tmp_path / "not.pem"),
            FakeEngine(pullable={"python:3.11-slim-bookworm"}),
        )


def test_ensure_image_builds_a_missing_default_image_only(checkout: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_module, "download_wheelhouse", lambda req, flavour, dest: dest)
    engine = FakeEngine(pullable={"python:3.11-slim-bookworm"})
    said: list[str] = []
    info = ensure_image("cpu", engine, said.append)
    assert info.ref == "engine-foundry:cpu" and len(engine.builds) == 1 and "missing: building it now" in said[0]
    assert ensure_image("cpu", engine, said.append) == info and len(engine.builds) == 1, "present: not rebuilt"
    with pytest.raises(HostEnvironmentError, match="my/image:1 is not present"):
        ensure_image("cpu", engine, said.append, ref="my/image:1")


def test_ensure_image_warns_when_sources_changed(checkout: Path) -> None:
    engine = FakeEngine()
    engine.add_image("engine-foundry:cpu", "sha256:" + "1" * 64, {"engine-foundry.source-sha256": "0" * 64})
    said: list[str] = []
    ensure_image("cpu", engine, said.append)
    assert said == [
        "WARNING image engine-foundry:cpu was built from other sources than this checkout. "
        "TIP rebuild it: `make image FLAVOUR=cpu`"
    ]


def test_provenance_environment_comes_from_labels() -> None:
    engine = FakeEngine()
    info = engine.add_image(
        "x:cpu",
        "sha256:1",
        {
            "engine-foundry.base.ref": "python:3.11",
            "engine-foundry.base.id": "sha256:2",
            "engine-foundry.base.pinned": "false",
        },
    )
    assert provenance_environment(info) == {
        "ENGINE_FOUNDRY_BASE_IMAGE": "python:3.11",
        "ENGINE_FOUNDRY_BASE_IMAGE_ID": "sha256:2",
        "ENGINE_FOUNDRY_BASE_PINNED": "false",
    }


def test_a_locally_made_base_is_not_a_warning_and_its_id_goes_into_the_image_labels(checkout: Path) -> None:
    (checkout / "images.lock").write_text(render_images_lock({
        "cpu": BasePin("cpu", "python:3.11-slim-bookworm"),
        "cpu-offline": BasePin("cpu-offline", "engine-foundry/base:bookworm", "local"),
    }))  # fmt: skip
    engine = FakeEngine()
    engine.add_image("engine-foundry/base:bookworm", "sha256:" + "7" * 64)  # any machine's own ID
    said: list[str] = []
    build_image(ImageOptions(flavour="cpu", wheelhouse=False), engine, said.append)
    assert not [line for line in said if line.startswith("WARNING")], said
    assert engine.builds[0]["labels"]["engine-foundry.base.id"] == "sha256:" + "7" * 64  # -> the build's manifest


def test_a_cold_image_build_shows_a_line_per_phase_with_the_elapsed_time(
    checkout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 22 item 4: `make engine` with no image printed nothing for ~2 minutes (the fallback and the build
    steps went to the log file only). Through the quiet sink the terminal now gets each phase with its time."""
    from builder.host.progress import ProgressSink

    engine = FakeEngine()
    engine.add_image("engine-foundry/base:bookworm", OFFLINE_ID)
    monkeypatch.setattr(image_module, "download_wheelhouse", lambda *args: None)  # pip's part, tested elsewhere
    shown: list[str] = []
    sink = ProgressSink(tmp_path / "log", out=shown.append)
    ensure_image("cpu", engine, sink)
    sink.close()
    assert shown[0] == "image engine-foundry:cpu is missing: building it now (same as `make image FLAVOUR=cpu`)"
    assert shown[1].startswith("[image] base image python:3.11-slim-bookworm cannot be pulled")
    assert shown[2].startswith("[image] downloading the wheels of requirements/cpu.txt") and shown[2].endswith("(0s)")
    assert shown[3].startswith("building engine-foundry:cpu")
    assert shown[4].startswith("[image] building engine-foundry:cpu: minutes from scratch (its pip step the longest)")
    assert shown[5] == f"[image] step 1/1: {f'FROM {OFFLINE_ID}'[:57]}... (0s)"
    assert shown[6].startswith("built engine-foundry:cpu: ") and shown[6].endswith(" in 0s")
    assert "Step 1/1 : FROM" in (tmp_path / "log").read_text()


def test_a_long_build_step_says_it_is_still_running() -> None:
    from builder.host.progress import PhaseLog

    now = [0.0]
    said: list[str] = []
    phases = PhaseLog(said.append, clock=lambda: now[0])
    phases.build_lines("Step 11/35 : RUN pip install")
    for second in (10, 20, 31, 40, 62):
        now[0] = second
        phases.build_lines(f"Collecting package-{second}")
    shown = [line for line in said if line.startswith("[image]")]
    assert shown == [
        "[image] step 11/35: RUN pip install (0s)",
        "[image] step 11/35 still running (31s)",
        "[image] step 11/35 still running (62s)",
    ]

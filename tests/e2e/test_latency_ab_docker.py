"""The nightly's side-by-side timing in the image (issue 22 item 1): `latency-ab` in a hardened build container with
the artifacts mounted read-only, its result read back from the container's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.host.docker_engine import ImageInfo
from builder.ops.runners import docker_remeasure
from builder.profile import load_profile
from tests.ops.fakes import synthetic_manifest, write_build
from tests.ops.test_latency_ab import conv_model

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_the_image_times_both_models_side_by_side(workspace: Path, cpu_image: ImageInfo, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    previous = write_build(artifacts, synthetic_manifest("e2e-cpu", n=1), {"model.ort.onnx": conv_model(1)})
    new = write_build(artifacts, synthetic_manifest("e2e-cpu", n=2), {"model.ort.onnx": conv_model(4)})
    artifacts.chmod(0o755)
    for folder in ("models", "cache"):  # a build made them before (the launcher's prepare_host_dirs)
        (tmp_path / folder).mkdir()
    profiles = workspace / "profiles"
    remeasure = docker_remeasure(profiles, artifacts, tmp_path / "models", tmp_path / "cache", image=cpu_image.ref)
    measured = remeasure(load_profile("e2e-cpu", profiles), previous, new)
    assert measured["method"] == "interleaved" and measured["order"][:2] == ["AB", "BA"]
    assert measured["previous"]["path"] == f"/artifacts/e2e-cpu/builds/{previous.name}/model.ort.onnx"
    assert len(measured["ratios"]) == 6 and sorted(measured["ratios"])[3] > 1.5, measured

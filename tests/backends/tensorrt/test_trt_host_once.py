"""One GPU discovery per TensorRT build: the build key, the manifest's environment, the backend's preflight check
and the build all use it (the fake TensorRT 10.3 of trt_fakes.py, a real export; verify/benchmark left out of the
pipeline, which run_build takes as an argument)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.machine import gpu
from builder.pipeline import run as pipeline_module
from builder.pipeline.stages import build as build_stage
from builder.pipeline.stages import export as export_stage
from builder.pipeline.stages import publish
from builder.profile import Backend, Precision
from builder.record.layout import ArtifactLayout
from builder.record.manifest import load_manifest
from tests.backends.tensorrt.trt_fakes import H100, install, make_fake_trt
from tests.pipeline.stages.helpers import make_ctx  # noqa: F401  (the no-install / offline environment first)
from tests.support import make_profile


@pytest.mark.slow  # a real export and build (the pipeline itself is what the test watches)
def test_the_gpu_is_discovered_once_per_build(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    install(monkeypatch, make_fake_trt("10.3.0"))
    probes = []
    fake_probe = gpu.probe_gpus

    def counted() -> gpu.GpuProbe:
        probes.append(1)
        return fake_probe()

    monkeypatch.setattr(gpu, "probe_gpus", counted)
    profile = make_profile(backend=Backend.TENSORRT, name="yolo-trt", precision=Precision.FP16)
    settings = pipeline_module.BuildSettings(artifacts=tmp_path / "artifacts", models=tmp_path, log=lambda _: None)
    outcome = pipeline_module.run_build(profile, settings, (export_stage, build_stage, publish))

    assert len(probes) == 1
    manifest = load_manifest(outcome.build_dir / "manifest.json")
    build = next(s for s in manifest["stages"] if s["name"] == "build")
    assert build["details"]["host"]["gpu"] == H100.to_dict() and build["details"]["host"]["target_match"] == "no target"
    assert manifest["environment"]["gpus"] == [H100.to_dict()]
    assert manifest["key_inputs"]["gpu"] == gpu.gpu_identity([H100])
    assert ArtifactLayout(tmp_path / "artifacts", "yolo-trt").latest_dir() == outcome.build_dir.resolve()

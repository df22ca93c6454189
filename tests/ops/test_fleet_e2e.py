"""A fleet bundle of real builds: the session's published tiny CPU build and three TensorRT builds made through the
real pipeline (real ONNX export, build stage, publish) by the recording fake TensorRT 10.8 of
tests/backends/tensorrt/trt_fakes.py on fake A10, T4 and H100 GPUs (the H100 as recorded,
tests/backends/tensorrt/data/h100-nvidia-smi-query.csv). It resolves on recorded host facts, and for real on this
machine (no GPU: the CPU build, GO, through the command line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.machine.gpu import GpuInfo
from builder.ops.fleet_bundle import make_fleet_bundle
from builder.ops.fleet_verify import verify_select
from builder.ops.select import CPU, EXACT, FAMILY, HostRecord
from builder.pipeline import run as pipeline_module
from builder.pipeline.stages import build as build_stage
from builder.pipeline.stages import export as export_stage
from builder.pipeline.stages import publish
from builder.profile import Backend, Precision, TargetSpec
from builder.verify import compat
from tests.backends.tensorrt.trt_fakes import H100, install, make_fake_trt
from tests.faults.harness import latest_target, quiet_env, run_cli
from tests.pipeline.stages.helpers import make_ctx  # noqa: F401  (the no-install / offline environment first)
from tests.support import make_profile, unpack_bundle

DRIVER = H100.driver_version  # 580.159.04, recorded
A10 = GpuInfo(0, "NVIDIA A10", "GPU-a10", "8.6", 23028, DRIVER)
A10G = GpuInfo(0, "NVIDIA A10G", "GPU-a10g", "8.6", 23028, DRIVER)
T4 = GpuInfo(0, "Tesla T4", "GPU-t4", "7.5", 15360, DRIVER)
L4 = GpuInfo(0, "NVIDIA L4", "GPU-l4", "8.9", 23034, DRIVER)
GPU_BUILDS = {  # profile -> (build GPU, target as the shipped profile names it)
    "a10-fp16": (A10, TargetSpec(("A10", "A10G"), "8.6")),
    "t4-fp16": (T4, TargetSpec("T4", "7.5")),
    "h100-fp16": (H100, TargetSpec("H100", "9.0")),
}


@pytest.fixture(scope="module")
def fleet(published_tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fleet bundle: tiny (CPU) first, then the three fake-built GPU profiles."""
    root = tmp_path_factory.mktemp("fleet")
    builds = [latest_target(published_tiny / "artifacts" / "tiny")]
    for name, (gpu, target) in GPU_BUILDS.items():
        with pytest.MonkeyPatch.context() as mp:
            install(mp, make_fake_trt("10.8.0"), gpus=(gpu,))
            mp.setenv("CUDA_VERSION", "12.6.3")  # what the TensorRT image sets: the manifest's CUDA
            profile = make_profile(
                backend=Backend.TENSORRT, name=name, precision=Precision.FP16, tensorrt="10", target=target
            )
            settings = pipeline_module.BuildSettings(artifacts=root / "artifacts", models=root, log=lambda _: None)
            outcome = pipeline_module.run_build(profile, settings, (export_stage, build_stage, publish))
            builds.append(outcome.build_dir)
    assert all(b is not None for b in builds)
    return make_fleet_bundle([b for b in builds if b is not None], root / "fleet.tar.gz").path


@pytest.mark.parametrize(
    ("gpus", "profile", "rank"),
    [((H100,), "h100-fp16", EXACT), ((A10G,), "a10-fp16", FAMILY), ((T4,), "t4-fp16", EXACT), ((L4,), "tiny", CPU)],
    ids=["h100-recorded", "a10g", "t4", "l4-cpu"],
)
def test_fake_built_fleet_resolves_on_recorded_hosts(fleet, monkeypatch, gpus, profile, rank):
    onnxruntime = compat.current_host(gpus=False).onnxruntime  # the one that saved the tiny build
    facts = HostRecord(tuple(g.to_dict() for g in gpus), None, onnxruntime, "x86_64")
    monkeypatch.setattr(compat, "current_host", lambda **_: facts.facts())
    report, selection = verify_select(fleet, facts, run_inference=False)
    assert selection.chosen is not None and selection.chosen.rank is not None
    assert (selection.chosen.candidate.profile, selection.chosen.rank[0]) == (profile, rank), selection.chosen.reason
    # TensorRT is not installed on the recorded host's verifying process: intact, fitting, UNVERIFIED for GPU builds
    assert report.verdict == ("GO" if rank == CPU else "UNVERIFIED"), report.checks
    gpu_checks = {c.name: c.status for c in report.checks if c.name.startswith("compat-")}
    assert gpu_checks == ({"compat-onnxruntime": "pass"} if rank == CPU else
                          {"compat-gpu": "pass", "compat-tensorrt": "skip", "compat-driver": "pass"})  # fmt: skip
    if rank == CPU:
        assert 'target: {gpu: "L4", compute_capability: "8.9"}' in (selection.wanted or "")


def test_fleet_resolves_for_real_on_this_machine(fleet, tmp_path):
    """No GPU here: the CLI picks the CPU build, loads it, runs one inference: GO on the archive, on the unpacked
    folder, and on what --extract wrote."""
    env = quiet_env(tmp_path)
    top = unpack_bundle(fleet, tmp_path / "unpacked")
    for target in (fleet, top):
        result = run_cli(["verify", "--select", str(target)], cwd=tmp_path, env=env)
        assert result.returncode == 0, result.describe()
        assert "PASS select: chose tiny (build " in result.stdout
        assert "PASS load: loaded with onnxruntime and ran one inference" in result.stdout
        assert result.stdout.count("SKIP select: passed over ") == 3
        assert "no NVIDIA GPU found on this host; the engine needs NVIDIA A10 (compute capability 8.6)" in result.stdout
    deploy = tmp_path / "deploy"
    result = run_cli(["verify", "--select", str(fleet), "--extract", str(deploy)], cwd=tmp_path, env=env)
    assert result.returncode == 0 and "PASS extract: wrote tiny to" in result.stdout, result.describe()
    again = run_cli(["verify", str(deploy)], cwd=tmp_path, env=env)
    assert again.returncode == 0 and again.stdout.rstrip().endswith(f"GO: {deploy}"), again.describe()

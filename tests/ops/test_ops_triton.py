"""Issue 17 §3 and issue 22 §3: OPS.md says which Triton release serves the build, starts it with the right command
(`--backend-config=tensorrt,version-compatible=true` for version-compatible plans: tensorrt_backend PR #74,
server#6129), gives the opset, IR version, confidence and NMS IoU, and how a host gets `verify` with its runtime;
the UNVERIFIED TIP names that same set-up. Triton facts: builder/ops/triton_release.py (sources beside them)."""

from __future__ import annotations

import copy
import re

import pytest

from builder.ops.opsdoc import render_ops_doc
from builder.ops.triton import triton_model
from builder.record.manifest_read import read_manifest
from tests.ops.fakes import CPU_METADATA, synthetic_manifest

FLAG = "--backend-config=tensorrt,version-compatible=true"


def _manifest(backend: str, *, tensorrt: str = "8.6.1", vc: bool = False, ort: str = "1.16.3") -> dict:
    manifest = copy.deepcopy(synthetic_manifest("yolo", backend=backend))
    manifest["profile"]["resolved"]["version_compatible"] = vc
    env = manifest["environment"]
    env["packages"]["onnxruntime"] = ort
    if backend == "tensorrt":
        env["tensorrt"] = env["packages"]["tensorrt"] = tensorrt
    manifest["stages"].insert(0, {"name": "export", "status": "ok", "details": {"opset": 17, "ir_version": 8}})
    model = "model.plan" if backend == "tensorrt" else "model.ort.onnx"
    manifest["artifacts"] = [{"path": model, "kind": "model", "size": 1, "sha256": "2" * 64}]
    return manifest


def _ops(manifest: dict) -> str:
    view = read_manifest(manifest)
    return render_ops_doc(view, CPU_METADATA, triton_model(view, CPU_METADATA), [])


def _docker_line(doc: str) -> str:
    return next(line.strip() for line in doc.splitlines() if line.strip().startswith("docker run --rm"))


@pytest.mark.parametrize(
    ("backend", "tensorrt", "vc", "ort", "release", "runtime"),
    [
        ("onnxruntime", None, False, "1.16.3", "24.04", "ONNX Runtime 1.17.3"),
        ("onnxruntime", None, False, "1.20.1", "24.12", "ONNX Runtime 1.20.1"),
        ("onnxruntime", None, False, "1.15.1", "23.08", "ONNX Runtime 1.15.1"),
        ("tensorrt", "8.6.1", False, "1.16.3", "23.08", "TensorRT 8.6.1.6"),
        ("tensorrt", "8.6.1", True, "1.16.3", "23.09", "TensorRT 8.6.1 or newer (majors 8, 10)"),
        ("tensorrt", "10.8.0.43", False, "1.20.1", "25.01", "TensorRT 10.8.0.43"),
        ("tensorrt", "10.8.0.43", True, "1.20.1", "25.01", "TensorRT 10.8.0.43 or newer (majors 10, 11)"),
    ],
)
def test_each_build_gets_its_triton_release_and_command(
    backend: str, tensorrt: str | None, vc: bool, ort: str, release: str, runtime: str
) -> None:
    doc = _ops(_manifest(backend, tensorrt=tensorrt or "", vc=vc, ort=ort))
    assert f"- Release: Triton **{release}** (`nvcr.io/nvidia/tritonserver:{release}-py3`, {runtime}):" in doc
    docker = _docker_line(doc)
    assert f"nvcr.io/nvidia/tritonserver:{release}-py3 tritonserver --model-repository=/models" in docker
    assert docker.endswith(FLAG) is (backend == "tensorrt" and vc), docker
    assert ("--gpus=all" in docker) is (backend == "tensorrt")
    assert '-v "$PWD/triton:/models:ro"' in docker and FLAG not in docker.replace(FLAG, "", 1)
    flag = f" {FLAG}" if backend == "tensorrt" and vc else ""
    assert f"where Triton is installed, `tritonserver --model-repository=$PWD/triton{flag}`." in doc
    assert "tensorrt_backend PR #74" in doc and "server#6129" in doc  # the sources, named
    assert ("only with `" + FLAG in doc) is (backend == "tensorrt" and vc)
    assert "exported as ONNX opset 17, IR version 8" in doc
    assert "confidence >= 0.25, then class-wise NMS at IoU 0.7" in doc


def test_a_cpu_build_says_how_to_get_verify_with_onnxruntime() -> None:
    doc = _ops(_manifest("onnxruntime"))
    assert "`scripts/setup-env verify`" in doc and "`.venv/bin/engine-foundry verify <bundle>.tar.gz`" in doc
    assert "saved by ONNX Runtime 1.16.3" in doc and "docker run --rm --gpus" not in doc


def test_a_tensorrt_build_says_to_verify_in_its_image() -> None:
    doc = _ops(_manifest("tensorrt"))
    assert 'docker run --rm --gpus=all -v "$PWD:/work:ro" engine-foundry:trt verify /work/<bundle>.tar.gz' in doc
    assert "the plan was built from it by TensorRT 8.6.1" in doc


def test_no_known_release_is_said_not_guessed() -> None:
    newer_ort = _ops(_manifest("onnxruntime", ort="1.32.0"))
    assert "**no known Triton release**" in newer_ort
    assert "no Triton release up to 26.07 (ONNX Runtime 1.27.0) bundles ONNX Runtime 1.32.0 or newer" in newer_ort
    assert "tritonserver:<release>-py3" in _docker_line(newer_ort)
    other_trt = _ops(_manifest("tensorrt", tensorrt="10.3.0"))
    assert "no Triton release known here is built on TensorRT 10.3.0" in other_trt


def test_the_onnxruntime_table_only_grows() -> None:
    from builder.ops.triton_release import TRITON_ONNXRUNTIME, _version

    releases = [r for r, _ in TRITON_ONNXRUNTIME]
    assert releases == sorted(releases) and len(set(releases)) == len(releases)
    versions = [_version(v) for _, v in TRITON_ONNXRUNTIME]
    assert versions == sorted(versions)
    assert all(re.fullmatch(r"\d\d\.\d\d", r) for r in releases)


def test_the_unverified_tip_names_the_set_up_for_the_artifacts_runtime(
    tmp_path, monkeypatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from builder.cli import main
    from builder.ops.bundle import make_bundle
    from builder.verify import compat
    from tests.ops.fakes import write_build

    a10 = {"name": "NVIDIA A10", "compute_capability": "8.6", "driver_version": "535.104.05"}  # no TensorRT, no ORT
    monkeypatch.setattr(compat, "current_host", lambda **_: compat.HostFacts([a10], tensorrt=None, onnxruntime=None))
    for backend, expected in (
        ("onnxruntime", "`scripts/setup-env verify`"),
        ("tensorrt", f'docker run --rm --gpus=all -v "{tmp_path}:/work:ro" engine-foundry:trt verify /work/'),
    ):
        build = write_build(tmp_path / backend, synthetic_manifest(f"p-{backend}", n=1, backend=backend))
        bundle = make_bundle(build, tmp_path / f"{backend}.tar.gz").path
        assert main(["verify", str(bundle), "--no-run"]) == 8
        err = capsys.readouterr().err
        tip = next(line for line in err.splitlines() if line.startswith("TIP "))
        assert expected in tip and "docs/ops.md" in tip, tip
        command = f".venv/bin/engine-foundry verify {bundle}" if backend == "onnxruntime" else f"/work/{bundle.name}`"
        assert command in tip, tip

"""Stage ``export`` for real: ultralytics -> ONNX, determinism, checks, checkpoints and their errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from builder.common.hashing import sha256_file
from builder.errors import ExportError, ModelError
from builder.pipeline.stage_types import StageContext
from builder.pipeline.stages import export as export_stage
from builder.profile import ModelSpec
from tests.pipeline.stages.helpers import make_ctx
from tests.support import REPO, make_profile


def _onnx(ctx: StageContext) -> Path:
    return ctx.path(ctx.prior["export"].artifact("onnx"))


def test_export_writes_a_checked_onnx_with_details(exported: StageContext) -> None:
    import onnx

    path = _onnx(exported)
    assert path == exported.workdir / "model.onnx"
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    details = exported.prior["export"].details
    assert details["opset"] == 17 == next(o.version for o in model.opset_import if o.domain == "")
    assert details["ir_version"] == model.ir_version
    assert details["input"] == {"name": "images", "shape": [1, 3, 64, 64], "dtype": "float32"}
    assert details["outputs"] == [{"name": "output0", "shape": [1, 84, 84], "dtype": "float32"}]
    assert details["shapes_at_imgsz"] == {"images": [1, 3, 64, 64], "output0": [1, 84, 84]}
    assert details["names"] == [str(i) for i in range(80)]  # yolo11n.yaml's default COCO-sized head
    assert (details["stride"], details["task"], details["imgsz"]) == (32, "detect", [64, 64])
    assert details["weights"]["identity"] == "yaml:yolo11n.yaml:seed=0"
    assert details["onnx_sha256"] == sha256_file(path)
    assert set(details["versions"]) == {"ultralytics", "torch", "onnx"}
    json.dumps(details, allow_nan=False)  # JSON-able for the manifest


def test_export_strips_the_timestamp_and_shape_hints(exported: StageContext) -> None:
    import onnx

    model = onnx.load(str(_onnx(exported)))
    props = {p.key: p.value for p in model.metadata_props}
    assert "date" not in props and len(model.graph.value_info) == 0
    assert {"stride", "task", "names", "imgsz", "version"} <= set(props)
    details = exported.prior["export"].details
    assert details["stripped"] == ["metadata_props.date", "graph.value_info"]
    assert details["exported_at"].endswith("Z")


def test_export_check_compares_pytorch_and_onnxruntime(exported: StageContext) -> None:
    check = exported.prior["export"].details["export_check"]
    assert check["batches"] == [1]
    stats = check["outputs"]["output0"]
    assert stats["passed"] and stats["nonfinite"] == 0
    assert 0 < stats["max_abs"] < check["atol"] * 100  # fused-vs-unfused float noise, never exactly zero


def test_export_is_byte_identical_in_process(exported: StageContext, tmp_path: Path) -> None:
    again = export_stage.onnx_from_checkpoint(exported.profile, tmp_path, tmp_path / "again.onnx", lambda _: None)
    assert (tmp_path / "again.onnx").read_bytes() == _onnx(exported).read_bytes()
    assert again.details["onnx_sha256"] == exported.prior["export"].details["onnx_sha256"]


@pytest.mark.slow  # two real exports in subprocesses, where tests/tiers.py cannot see them
def test_export_is_byte_identical_across_processes_and_hash_seeds(tmp_path: Path) -> None:
    # dynamic shapes make onnxslim's symbolic shape names depend on the hash seed: the stage must not
    code = (
        "import sys; from pathlib import Path; from tests.pipeline.stages.helpers import make_ctx; "
        "from tests.support import make_profile; from builder.profile import BatchSpec; "
        "from builder.pipeline.stages import export as export_stage; "
        "ctx = make_ctx(make_profile(batch=BatchSpec(1, 2, 3)), Path(sys.argv[1])); "
        "print(export_stage.run(ctx).details['onnx_sha256'])"
    )
    digests = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(REPO)}
        argv = [sys.executable, "-c", code, str(tmp_path / seed)]
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        digests.append(done.stdout.strip().splitlines()[-1])
        assert digests[-1] == sha256_file(tmp_path / seed / "build" / "model.onnx")
    assert digests[0] == digests[1]


def test_export_check_fails_when_pytorch_and_onnx_disagree(exported: StageContext) -> None:
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolo11n.yaml").model
    with torch.no_grad():
        model.model[-1].cv3[0][-1].bias += 20.0  # class logits start near -12: this makes scores ~1
    with pytest.raises(ExportError, match="output 'output0' differs between PyTorch and ONNX Runtime: max abs") as info:
        export_stage._check_against_pytorch(model, _onnx(exported), exported.profile)
    assert info.value.hint


@pytest.mark.slow  # a real export attempt (torch) that fails at opset 5
def test_unsupported_opset_is_an_export_error(tmp_path: Path) -> None:
    ctx = make_ctx(make_profile(opset=5), tmp_path)
    with pytest.raises(ExportError, match=r"could not export .*\(opset 5\).*opset>=9") as info:
        export_stage.run(ctx)
    assert info.value.stage == "export" and info.value.hint


def test_imgsz_off_the_stride_is_refused_not_rounded(tmp_path: Path) -> None:
    ctx = make_ctx(make_profile(imgsz=(64, 80)), tmp_path)
    with pytest.raises(ExportError, match=r"imgsz \[64, 80\] is not a multiple of the model's stride 32") as info:
        export_stage.run(ctx)
    assert "[64, 96]" in (info.value.hint or "")
    assert not (ctx.workdir / "model.onnx").exists()


def test_unknown_model_yaml_is_a_model_error(tmp_path: Path) -> None:
    ctx = make_ctx(make_profile(model=ModelSpec(yaml="yolo-does-not-exist.yaml")), tmp_path)
    with pytest.raises(ModelError, match="yolo-does-not-exist.yaml"):
        export_stage.run(ctx)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ultralytics checkpoint (random yolo11n weights) saved with ``Model.save``."""
    import torch
    from ultralytics import YOLO

    models = tmp_path_factory.mktemp("models")
    torch.manual_seed(1)
    YOLO("yolo11n.yaml").save(str(models / "tiny.pt"))
    return models / "tiny.pt"


def test_export_from_a_pinned_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    profile = make_profile(model=ModelSpec(checkpoint="tiny.pt", sha256=digest))
    ctx = make_ctx(profile, tmp_path, models_dir=checkpoint.parent)
    details = export_stage.run(ctx).details
    assert details["weights"] == {"identity": "checkpoint:tiny.pt", "sha256": digest}
    assert details["export_check"]["outputs"]["output0"]["passed"]
    assert (ctx.workdir / "model.onnx").is_file()
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == ["tiny.pt"]  # nothing written beside the weights


def test_checkpoint_pin_mismatch_is_a_model_error(checkpoint: Path, tmp_path: Path) -> None:
    profile = make_profile(model=ModelSpec(checkpoint="tiny.pt", sha256="0" * 64))
    with pytest.raises(ModelError, match="sha256"):
        export_stage.run(make_ctx(profile, tmp_path, models_dir=checkpoint.parent))


def _torch_file_without_model() -> bytes:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save({"weights": torch.zeros(2)}, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("content", [b"", b"definitely not a pickle", b"PK\x03\x04truncated zip", "torch-dict"])
def test_corrupt_checkpoint_is_a_model_error(content: bytes | str, tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "bad.pt").write_bytes(_torch_file_without_model() if content == "torch-dict" else content)
    ctx = make_ctx(make_profile(model=ModelSpec(checkpoint="bad.pt")), tmp_path, models_dir=models)
    with pytest.raises(ModelError, match="bad.pt is not a YOLO checkpoint") as info:
        export_stage.run(ctx)
    assert info.value.hint and "ERROR" not in info.value.message


def test_missing_checkpoint_is_a_model_error(tmp_path: Path) -> None:
    ctx = make_ctx(make_profile(model=ModelSpec(checkpoint="absent.pt")), tmp_path)
    with pytest.raises(ModelError, match="absent.pt"):
        export_stage.run(ctx)

"""A user's classify checkpoint, as ultralytics' trainer saves it (its torchvision transforms pickled in), exports
where torchvision does not import: the export stage reads a scratch copy without the transforms
(builder/yolo/checkpoint_transforms.py), never writes the user's file, and the ONNX gives the checkpoint's own
probabilities (computed by ultralytics in the process that trained it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from builder.common.hashing import sha256_file
from builder.pipeline.stages import export as export_stage
from builder.profile import ModelSpec, load_profile
from builder.yolo.checkpoint_transforms import torchvision_globals
from tests.fixture_trainer.classify_checkpoint_maker import IMGSZ
from tests.support import REPO

pytestmark = pytest.mark.slow

TRANSFORMS = [
    "torchvision.transforms.functional.InterpolationMode",
    "torchvision.transforms.transforms.CenterCrop",
    "torchvision.transforms.transforms.Compose",
    "torchvision.transforms.transforms.Normalize",
    "torchvision.transforms.transforms.Resize",
    "torchvision.transforms.transforms.ToTensor",
]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """user-cls.pt (one epoch of ultralytics' ClassificationTrainer) and expected.npz, made in a child process."""
    out = tmp_path_factory.mktemp("user-cls")
    env = {**os.environ, "YOLO_CONFIG_DIR": str(out / "yolo-config")}
    done = subprocess.run(
        [sys.executable, "-m", "tests.fixture_trainer.classify_checkpoint_maker", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def _profile(models: Path, checkpoint: str) -> object:
    base = load_profile("cpu-fp32-classify", REPO / "profiles")
    return replace(base, model=ModelSpec(checkpoint=checkpoint), imgsz=(IMGSZ, IMGSZ))


def test_a_users_classify_checkpoint_exports_without_torchvision(made: Path, tmp_path: Path) -> None:
    import numpy as np
    import onnxruntime as ort

    models = tmp_path / "models"
    models.mkdir()
    user = models / "user-cls.pt"
    shutil.copyfile(made / "user-cls.pt", user)
    before = (sha256_file(user), user.stat().st_mtime_ns)
    assert torchvision_globals(user) == TRANSFORMS  # what ultralytics' trainer pickles, read without unpickling

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    info = export_stage.onnx_from_checkpoint(
        _profile(models, "user-cls.pt"),  # type: ignore[arg-type]
        models,
        tmp_path / "model.onnx",
        lambda line: None,
        scratch=scratch,
    )
    assert info.task == "classify" and info.details["weights"]["sha256"] == before[0]
    assert info.details["checkpoint_transforms"]["dropped"] == [
        f"Resize(antialias=True, max_size=None, size={IMGSZ})",
        f"CenterCrop(size=({IMGSZ}, {IMGSZ}))",
        "ToTensor()",
        "Normalize(mean=[0.0, 0.0, 0.0], std=[1.0, 1.0, 1.0])",
    ]
    assert all(o["passed"] for o in info.details["export_check"]["outputs"].values())
    assert (sha256_file(user), user.stat().st_mtime_ns) == before and sorted(os.listdir(models)) == ["user-cls.pt"]
    assert not list(scratch.iterdir())  # the copy without transforms went with the export's temporary folder

    expected = np.load(made / "expected.npz")
    session = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    got = np.concatenate([session.run(None, {info.input.name: x[None]})[0] for x in expected["feed"]])
    np.testing.assert_allclose(got, expected["probs"], atol=export_stage.CHECK_ATOL, rtol=export_stage.CHECK_RTOL)
    assert got.argmax(1).tolist() == expected["probs"].argmax(1).tolist()

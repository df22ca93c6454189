"""The test environment can use a built artifact the way an ultralytics user first would: `YOLO(model.onnx).predict`.

ultralytics 8.4.190 needs torchvision to be installed (ultralytics/utils/__init__.py reads its version at import:
`importlib.metadata.version("torchvision")`) and imports it before predicting with a model that is not end-to-end
(ultralytics/nn/autobackend.py `warmup`: `if not self.end2end: import torchvision`). A torchvision built for CUDA
torch does not import beside the CPU torch ("operator torchvision::nms does not exist"): then predict fails at
that import. scripts/setup-env installs the CPU index's torchvision (requirements/torchvision-cpu.txt), and only
where that index is out of reach the default index's CUDA build (requirements/torchvision-fallback.txt).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

PREDICT = """\
import sys
import numpy as np
from ultralytics import YOLO

model = YOLO(sys.argv[1], task="detect")
results = model.predict(np.zeros((64, 64, 3), dtype=np.uint8), imgsz=64, verbose=False)
print("PREDICTED", len(results), results[0].boxes.xyxy.shape[1])
"""
TORCHVISION_CUDA_BUILD = "operator torchvision::nms does not exist"


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false", "YOLO_CONFIG_DIR": str(tmp_path / "yolo")}


def test_ultralytics_predicts_on_the_built_onnx(tmp_path: Path, published_tiny: Path) -> None:
    """On a copy of model.onnx of the session's published tiny build (built by the CLI as a user builds)."""
    onnx = tmp_path / "model.onnx"
    shutil.copyfile(published_tiny / "artifacts" / "tiny" / "latest" / "model.onnx", onnx)

    predict = subprocess.run(
        [sys.executable, "-c", PREDICT, str(onnx)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    torchvision = subprocess.run(
        [sys.executable, "-c", "import torchvision"], capture_output=True, text=True, timeout=300
    )
    if torchvision.returncode == 0:
        assert predict.returncode == 0, predict.stderr[-3000:]
        assert "PREDICTED 1 4" in predict.stdout
        return
    # The torchvision here is a CUDA build: predict fails at exactly that import, nowhere else.
    assert TORCHVISION_CUDA_BUILD in torchvision.stderr
    assert (
        predict.returncode != 0 and TORCHVISION_CUDA_BUILD in predict.stderr and "import torchvision" in predict.stderr
    )
    pytest.xfail(
        "torchvision==0.28.0+cpu is on no index this machine reaches: .venv has the fallback CUDA build"
        " (requirements/torchvision-fallback.txt)"
    )

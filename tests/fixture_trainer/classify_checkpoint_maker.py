"""Make a user's classify checkpoint as ultralytics' trainer saves it: with its torchvision transforms pickled in.

Run as a child process (``python -m tests.fixture_trainer.classify_checkpoint_maker OUT``): trains ``yolo26n-cls.yaml``
for one epoch on a small shapes classify set with ultralytics' own ``ClassificationTrainer``, which attaches its eval
transforms (``classify_transforms(imgsz)``: torchvision ``Compose(Resize, CenterCrop, ToTensor, Normalize)``) to the
model it saves (ultralytics/models/yolo/classify/train.py ``get_dataloader``); writes ``OUT/user-cls.pt`` (best.pt,
unchanged) and ``OUT/expected.npz``: the checkpoint's own probabilities, loaded back by ultralytics with torchvision,
for a seeded input.

torchvision's package ``__init__`` fails beside the CPU torch here (it registers C++ operators, ``operator
torchvision::nms does not exist``); its pure-Python transforms and datasets modules do not need them. So this child
process, and only it, loads ``torchvision`` as a bare package (its real modules, ``__init__`` not run) before
ultralytics imports it: the transform objects pickled are torchvision's own classes. Where torchvision imports, it is
used as it is.
"""

from __future__ import annotations

import importlib.machinery
import importlib.metadata
import importlib.util
import os
import shutil
import sys
from dataclasses import replace
from pathlib import Path

IMGSZ = 32


def _torchvision() -> str:
    try:
        import torchvision  # type: ignore[import-untyped]  # noqa: F401

        return "imported"
    except Exception:  # noqa: BLE001 - a torchvision built for another torch raises RuntimeError
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
        folder = importlib.metadata.distribution("torchvision").locate_file("torchvision")
        spec = importlib.machinery.ModuleSpec("torchvision", None, origin=str(folder / "__init__.py"), is_package=True)
        package = importlib.util.module_from_spec(spec)
        package.__path__, package.__file__ = [str(folder)], str(folder / "__init__.py")  # read by inspect, not run
        sys.modules["torchvision"] = package
        for name in ("transforms", "datasets"):  # what ultralytics' classify trainer reads, bound as __init__ would
            setattr(package, name, importlib.import_module(f"torchvision.{name}"))
        return "bare package"


def main(out: Path) -> None:
    os.environ["YOLO_OFFLINE"], os.environ["YOLO_AUTOINSTALL"] = "1", "false"
    how = _torchvision()
    import numpy as np
    import torch
    from ultralytics import YOLO

    from fixture_trainer.shapes import ShapesSpec, generate
    from fixture_trainer.train import TASK_TRAIN, train

    info = generate(out / "data", ShapesSpec(train=40, val=10, seed=3), task="classify")
    spec = replace(TASK_TRAIN["classify"], epochs=1, imgsz=IMGSZ, batch=8, workers=0, device="cpu")
    best, _ = train(info, out / "runs", spec)
    shutil.copyfile(best, out / "user-cls.pt")
    shutil.rmtree(out / "runs")
    model = YOLO(str(out / "user-cls.pt")).model.float().eval()
    feed = torch.from_numpy(np.random.default_rng(0).random((2, 3, IMGSZ, IMGSZ), dtype=np.float32))
    with torch.no_grad():
        probs = model(feed)
    probs = probs[0] if isinstance(probs, (tuple, list)) else probs
    np.savez(out / "expected.npz", feed=feed.numpy(), probs=probs.numpy())
    print(f"torchvision: {how}; transforms: {model.transforms}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

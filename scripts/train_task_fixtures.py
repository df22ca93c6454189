"""Train the fixture model of one task on a GPU host: generate its shapes data, train, val; write TASK.pt and
TASK.json into OUT. How models/fixtures/shapes-*-{seg,pose,obb,cls}.pt were made: the four tasks at once, each in its
own process, on one GPU, with PYTHONPATH holding the ultralytics 8.4.190 wheel and this checkout.

Usage: python3 scripts/train_task_fixtures.py TASK OUT HOURS [MODEL_YAML]
(MODEL_YAML replaces the task's default model, e.g. yolo26n.yaml for the end-to-end detect fixture.)
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

from fixture_trainer.shapes import ShapesSpec, generate
from fixture_trainer.train import TASK_TRAIN, drop_torchvision_transforms, train, val_numbers


def main(task: str, out: Path, hours: float, model: str | None = None) -> None:
    import torch
    import ultralytics
    from ultralytics import YOLO

    started = time.monotonic()
    info = generate(Path("/tmp/data") / task, ShapesSpec(), task=task)
    gen_seconds = time.monotonic() - started
    spec = replace(TASK_TRAIN[task], device="0", workers=3, epochs=300, time=hours)
    if model:
        spec = replace(spec, model=model)
    best, seconds = train(info, Path("/tmp/runs") / task, spec)
    ckpt = torch.load(best, map_location="cpu", weights_only=False)
    with open(Path("/tmp/runs") / task / "train" / "results.csv") as handle:
        rows = sum(1 for _ in handle) - 1
    metrics = YOLO(str(best)).val(
        data=str(info.train_data), imgsz=spec.imgsz, batch=32, device="0", plots=False, verbose=False
    )
    record = {
        "task": task,
        "model": spec.model,
        "spec": asdict(spec),
        "epochs_run": int(ckpt.get("epoch", -1)) + 1,
        "train_args_epochs": ckpt.get("train_args", {}).get("epochs"),
        "gen_seconds": round(gen_seconds, 1),
        "train_seconds": round(seconds, 1),
        "digest": info.digest,
        "objects": info.objects,
        "images": info.images,
        "val_gpu": val_numbers(task, metrics),
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "python": sys.version.split()[0],
        "device_name": torch.cuda.get_device_name(0),
        "results_rows": rows,
    }
    if task == "classify":  # loadable without torchvision (see drop_torchvision_transforms)
        record["dropped_transforms"] = drop_torchvision_transforms(best, out / f"{task}.pt")
    else:
        shutil.copyfile(best, out / f"{task}.pt")
    (out / f"{task}.json").write_text(json.dumps(record, indent=2) + "\n")
    print("DONE", json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), float(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)

"""Classification: ``output0`` (1, nc) class probabilities (the head's softmax is part of the exported graph).

Data: ultralytics' ImageFolder layout, ``<root>/<split>/<class name>/*.png``, with a ``data.yaml`` at the root giving
``names`` (the class index order of the training folder: sorted names) and the split folders. Preprocessed as
ultralytics' ``classify_transforms`` (what its predictor and validator use): shortest side resized to the input size
(PIL bilinear, as torchvision's ``Resize`` on a PIL image), centre crop, RGB / 255 (mean 0, std 1). Scored as
``ClassificationValidator``: top-1 and top-5 accuracy; the gated metric is top-1 (``map50_95`` of the result).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.yolo.dataset import DatasetError, LabelledSplit
from builder.yolo.tasks.common import Infer, TaskResult

# how many of the images verified must keep the reference's top-1 class, by precision; top-5 sets must match too
MIN_TOP1_AGREEMENT = {"fp32": 1.0, "fp16": 1.0, "int8": 0.9}
PROB_ATOL = {"fp32": 1e-3, "fp16": 0.02, "int8": 0.1}


@dataclass(frozen=True)
class ClassifySplit(LabelledSplit):
    """A split whose label is the image's folder name."""

    def label_path(self, image: Path) -> Path:
        return image.parent  # not a file: content_sha256 hashes the path (which names the class) and the pixels

    def label(self, image: Path) -> int:
        by_name = {name: index for index, name in self.names.items()}
        return by_name[image.parent.name]


def load_split(models_dir: Path, data: str, split: str, samples: int | None = None) -> ClassifySplit:
    """``<models_dir>/<data>`` (a data.yaml with ``names`` and ``<split>: <folder>``): every image under
    ``<folder>/<class name>/``."""
    import yaml

    from builder.yolo.calibration_data import IMAGE_SUFFIXES

    models_dir = models_dir.resolve()
    data_yaml = (models_dir / data).resolve()
    fix = "point `accuracy.data` at a classify data.yaml: `names` and `<split>: <folder of class folders>`"
    try:
        config = yaml.safe_load(data_yaml.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DatasetError(f"accuracy data {data_yaml} is not readable: {err}", hint=fix) from None
    names = config.get("names") if isinstance(config, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not isinstance(config.get(split), str):
        raise DatasetError(f"{data_yaml}: needs `names` and `{split}: <folder>`", hint=fix)
    folder = (data_yaml.parent / config[split]).resolve()
    if not folder.is_relative_to(models_dir) or not folder.is_dir():
        raise DatasetError(f"{data_yaml}: split folder {folder} is missing or outside {models_dir}", hint=fix)
    known = {str(n) for n in names.values()}
    images = sorted(
        (p for p in folder.glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES and p.parent.name in known),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not images or (samples is not None and len(images) < samples):
        raise DatasetError(f"{folder} holds {len(images)} image(s) in class folders named {sorted(known)}", hint=fix)
    return ClassifySplit(
        data_yaml, split, tuple(images[:samples] if samples else images), {int(k): str(v) for k, v in names.items()}
    )


def image_to_tensor(image_bgr: Any, size: int) -> Any:
    """ultralytics' ``classify_transforms(size)`` of a BGR image: float32 (1, 3, size, size) RGB in [0, 1]."""
    import numpy as np
    from PIL import Image

    rgb = Image.fromarray(np.ascontiguousarray(image_bgr[..., ::-1]))
    w, h = rgb.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(size * long / short)  # torchvision's Resize(int) arithmetic
    new_w, new_h = (size, new_long) if w <= h else (new_long, size)
    if (new_w, new_h) != (w, h):
        rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))
    rgb = rgb.crop((left, top, left + size, top + size))
    chw = np.asarray(rgb, dtype=np.float32).transpose(2, 0, 1) / np.float32(255.0)
    return np.ascontiguousarray(chw[None])


def _square(imgsz: tuple[int, int]) -> int:
    if imgsz[0] != imgsz[1]:
        raise DatasetError(f"classify needs a square imgsz, got {list(imgsz)}", hint="set `imgsz` to one side")
    return imgsz[0]


def probabilities(infer: Infer, split: ClassifySplit, imgsz: tuple[int, int], batch: int = 1) -> tuple[Any, Any]:
    """(images, nc) probabilities and the (images,) true classes."""
    import numpy as np

    from builder.yolo.preprocess import load_image

    size = _square(imgsz)
    probs, labels = [], []
    for start in range(0, len(split.images), batch):
        paths = list(split.images[start : start + batch])
        tensors = [image_to_tensor(load_image(p), size) for p in paths]
        tensors += [tensors[-1]] * (batch - len(tensors))
        out = np.asarray(infer(np.concatenate(tensors, axis=0))[0])
        probs.append(out[: len(paths)].reshape(len(paths), -1))
        labels += [split.label(p) for p in paths]
    return np.concatenate(probs), np.array(labels)


def score_split(infer: Infer, split: Any, imgsz: tuple[int, int], batch: int = 1) -> TaskResult:
    """top-1 / top-5 accuracy as ``ClassificationValidator`` (argsort of the output, top min(nc, 5))."""
    import numpy as np

    probs, labels = probabilities(infer, split, imgsz, batch)
    n5 = min(len(split.names), 5)
    top = np.argsort(-probs, axis=1, kind="stable")[:, :n5]
    correct = top == labels[:, None]
    top1, top5 = float(correct[:, 0].mean()), float(correct.any(axis=1).mean())
    per_class = {split.names[c]: float(correct[labels == c, 0].mean()) for c in sorted(set(labels.tolist()))}
    return TaskResult(
        "classify",
        "top-1 accuracy",
        top5,
        top1,
        per_class,
        len(split.images),
        len(labels),
        {"top1": top1, "top5": top5},
    )


def compare(ref: Any, got: Any, precision: str) -> list[dict[str, Any]]:
    """Per image of the batch: the same top-1 class, the same top-5 set, probabilities within PROB_ATOL."""
    import numpy as np

    rows = []
    for r, g in zip(ref.reshape(ref.shape[0], -1), got.reshape(got.shape[0], -1), strict=True):
        n5 = min(r.shape[0], 5)
        r_top, g_top = np.argsort(-r, kind="stable")[:n5], np.argsort(-g, kind="stable")[:n5]
        worst = float(np.max(np.abs(r - g)))
        problem = None
        if r_top[0] != g_top[0]:
            problem = f"top-1 class {int(g_top[0])} instead of {int(r_top[0])}"
        elif set(r_top.tolist()) != set(g_top.tolist()):
            problem = f"top-{n5} classes {sorted(g_top.tolist())} instead of {sorted(r_top.tolist())}"
        elif worst > PROB_ATOL[precision]:
            problem = f"a probability differs by {worst:.4f} > {PROB_ATOL[precision]}"
        rows.append({"top1_same": bool(r_top[0] == g_top[0]), "max_prob_diff": worst, "problem": problem})
    return rows

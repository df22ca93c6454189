"""A labelled split in ultralytics' dataset format (``data.yaml``, ``images/<split>``, ``labels/<split>``).

``data.yaml`` is read as ultralytics reads it, for the part a detection split needs: ``names`` (a list or an
``{id: name}`` mapping), an optional ``path`` (the dataset root; relative: to the YAML's folder), and the split
key naming a folder of images relative to the root. A label file is the image's path with the last ``images``
folder replaced by ``labels`` and the suffix by ``.txt`` (ultralytics' ``img2label_paths``); a missing label file
means an image with no objects. Everything must stay inside the models folder (a read-only mount in the container).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.common.hashing import sha256_file
from builder.errors import ModelError
from builder.yolo.calibration_data import IMAGE_SUFFIXES


class DatasetError(ModelError):
    """The accuracy data set is missing or malformed (a user error: exit code of ModelError)."""


@dataclass(frozen=True)
class LabelledSplit:
    """The images of one split, their label files and the class names."""

    data_yaml: Path
    split: str
    images: tuple[Path, ...]
    names: dict[int, str]

    def label_path(self, image: Path) -> Path:
        parts = list(image.parts)
        index = len(parts) - 1 - parts[::-1].index("images")
        return Path(*parts[:index], "labels", *parts[index + 1 :]).with_suffix(".txt")

    def content_sha256(self) -> str:
        """Digest of ``data.yaml`` and every image and label file of the split (relative path + content)."""
        root = self.data_yaml.parent
        digest = hashlib.sha256(f"data.yaml\0{sha256_file(self.data_yaml)}\n".encode())
        for image in self.images:
            label = self.label_path(image)
            label_sha = sha256_file(label) if label.is_file() else "none"
            digest.update(f"{_rel(image, root)}\0{sha256_file(image)}\0{label_sha}\n".encode())
        return digest.hexdigest()


def load_split(models_dir: Path, data: str, split: str, samples: int | None = None) -> LabelledSplit:
    """The split ``split`` of ``<models_dir>/<data>`` (a data.yaml); the first ``samples`` images by name if given.

    Raises:
        DatasetError: the YAML is missing or unreadable, the split is not a folder of images inside the models
            folder, or it holds fewer images than ``samples``.
    """
    import yaml

    models_dir = models_dir.resolve()
    data_yaml = (models_dir / data).resolve()
    fix = "point `accuracy.data` at a data.yaml under the models folder (docs/accuracy.md)"
    if not data_yaml.is_file():
        raise DatasetError(f"accuracy data {data_yaml} does not exist", hint=fix)
    try:
        config: Any = yaml.safe_load(data_yaml.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DatasetError(f"accuracy data {data_yaml} is not readable YAML: {err}", hint=fix) from err
    if not isinstance(config, dict):
        raise DatasetError(f"accuracy data {data_yaml} is not a mapping", hint=fix)
    names = _names(config.get("names"), data_yaml)
    root = (data_yaml.parent / str(config.get("path") or ".")).resolve()
    entry = config.get(split)
    if not isinstance(entry, str):
        raise DatasetError(
            f"{data_yaml}: split {split!r} is {entry!r}, not a folder of images",
            hint=f"give `{split}: images/{split}` (a folder relative to the dataset root) or set `accuracy.split`",
        )
    folder = (root / entry).resolve()
    if not folder.is_relative_to(models_dir):
        raise DatasetError(f"{data_yaml}: split folder {folder} is outside the models folder {models_dir}", hint=fix)
    if not folder.is_dir() or "images" not in folder.relative_to(models_dir).parts:
        raise DatasetError(
            f"{data_yaml}: split {split!r} folder {folder} does not exist or is not under an `images` folder",
            hint="use ultralytics' layout: images/<split>/*.png beside labels/<split>/*.txt",
        )
    images = sorted((p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: _rel(p, folder))
    if not images or (samples is not None and len(images) < samples):
        raise DatasetError(
            f"{folder} holds {len(images)} image(s), the accuracy check needs {samples or 1}",
            hint="add labelled images, or lower `accuracy.samples`",
        )
    return LabelledSplit(data_yaml, split, tuple(images[:samples] if samples else images), names)


def read_labels(path: Path, height: int, width: int) -> Any:
    """``(n, 5)`` float32 array of class, x0, y0, x1, y1 in image pixels from a YOLO label file (none: ``(0, 5)``).

    Raises:
        DatasetError: a line is not five numbers.
    """
    import numpy as np

    rows = [line.split() for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    try:
        data = np.array(rows, dtype=np.float64).reshape(-1, 5)
    except ValueError as err:
        raise DatasetError(
            f"label file {path} is not `class cx cy w h` per line: {err}",
            hint="detection labels have five numbers per line (segments are not supported)",
        ) from err
    cx, cy, bw, bh = (data[:, 1] * width, data[:, 2] * height, data[:, 3] * width, data[:, 4] * height)
    return np.stack([data[:, 0], cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1).astype(np.float32)


def _names(value: Any, data_yaml: Path) -> dict[int, str]:
    if isinstance(value, list):
        return {i: str(name) for i, name in enumerate(value)}
    if isinstance(value, dict) and all(isinstance(k, int) for k in value):
        return {int(k): str(v) for k, v in value.items()}
    raise DatasetError(
        f"{data_yaml}: `names` must be a list or an {{id: name}} mapping, got {value!r}",
        hint="copy `names` from the data.yaml the model was trained with",
    )


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()

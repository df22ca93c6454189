"""A deterministic, labelled dataset of drawn shapes, in ultralytics' layout, for every ultralytics task.

Five classes (circle, square, triangle, ring, cross) at varied sizes, rotations and colours, some striped, on flat,
gradient, noisy, striped or checkered backgrounds, with limited overlap. Every image comes from its own random
generator seeded by ``(seed, split, index)``, so the val split does not depend on how many train images there are,
and the same seed gives the same bytes on any machine (numpy's PCG64 stream, our own PNG writer, zlib level 6).
Boxes are measured from the drawn shape itself (pixels at least half covered), so labels are exact.

Layout written (what ``ultralytics.data.utils.check_det_dataset`` reads)::

    <root>/data.yaml  images/{train,val}/NNNNN.png  labels/{train,val}/NNNNN.txt

The same scenes label every task (``TASKS``); only the label files (and ``data.yaml``) differ, except classify:

- ``detect``: ``cls cx cy w h``, the box of the drawn pixels (unchanged: the detect fixture's digest holds).
- ``segment``: ``cls x1 y1 x2 y2 ...``, the shape's outline as a polygon (a circle as a 32-gon; a ring as one
  polygon, outer edge counter-clockwise, a zero-width bridge, then the hole clockwise, so both fill rules leave the
  hole empty). Outlines are whole (amodal), like the boxes: a later shape may hide up to 35 % of an earlier one's box.
- ``pose``: ``cls cx cy w h`` then ``KEYPOINTS`` as ``x y 2``: the shape's own centre and the corners of its box;
  ``data.yaml`` carries ``kpt_shape: [5, 3]`` and ``flip_idx`` (a horizontal flip swaps left and right corners).
- ``obb``: ``cls x1 y1 x2 y2 x3 y3 x4 y4`` (ultralytics' DOTA-style normalized corners): a square's own rotated
  outline; the other shapes, whose orientation the pixels do not fix (circle, ring) or fix only modulo a symmetry
  that no rectangle shares (triangle, cross), get their axis-aligned pixel box.
- ``classify``: ImageFolder crops, ``<root>/{train,val}/<class>/NNNNN_K.png``: a square window around each shape's
  box (box side plus ``CROP_MARGIN`` px each way, edge pixels repeated where it leaves the image). ultralytics takes
  the folder itself as ``data``; the ``data.yaml`` beside the splits (names in ultralytics' sorted folder order) is
  what the evaluate stage reads.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.common.hashing import sha256_file, sha256_text

if TYPE_CHECKING:
    import numpy as np

CLASSES = ("circle", "square", "triangle", "ring", "cross")
SPLITS = ("train", "val")
TASKS = ("detect", "segment", "pose", "obb", "classify")
KEYPOINTS = ("centre", "top_left", "top_right", "bottom_right", "bottom_left")
FLIP_IDX = (0, 2, 1, 4, 3)  # KEYPOINTS after a horizontal flip: left and right corners swap
CROP_MARGIN = 4  # classify crops: pixels around the box, each way
_POLYGON_SIDES = 32  # a circle's outline
_SPLIT_KEYS = {"train": 1, "val": 2}
_SUPERSAMPLE = 4  # sub-pixels per side for anti-aliased edges
_MAX_BOX_IOU = 0.2  # a new object may overlap earlier ones at most this much (box IoU)
_MAX_COVERED = 0.35  # ... and at most this fraction of an earlier object's box may be covered


@dataclass(frozen=True)
class ShapesSpec:
    """What to generate; the defaults are the fixture model's dataset."""

    seed: int = 0
    train: int = 800
    val: int = 100
    imgsz: int = 256
    max_objects: int = 6
    min_size: int = 20  # shape diameter in pixels
    max_size: int = 96

    def count(self, split: str) -> int:
        return {"train": self.train, "val": self.val}[split]


@dataclass(frozen=True)
class Box:
    cls: int
    x0: int  # pixel edges: the box covers columns x0..x1-1 and rows y0..y1-1
    y0: int
    x1: int
    y1: int

    def yolo_line(self, imgsz: int) -> str:
        cx, cy = (self.x0 + self.x1) / 2 / imgsz, (self.y0 + self.y1) / 2 / imgsz
        w, h = (self.x1 - self.x0) / imgsz, (self.y1 - self.y0) / imgsz
        return f"{self.cls} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


@dataclass(frozen=True)
class Shape:
    """One drawn shape: its pixel box and the geometry it was drawn from (pixel units, continuous coordinates in
    which pixel column i spans [i, i+1))."""

    box: Box
    cx: float
    cy: float
    radius: float  # the shape's circumscribed circle
    angle: float  # radians, the shape's rotation

    @property
    def cls(self) -> int:
        return self.box.cls

    def outline(self) -> list[tuple[float, float]]:
        """The shape's outline as one polygon (a ring's includes its hole through a zero-width bridge)."""
        import numpy as np

        name, r = CLASSES[self.cls], self.radius
        if name in ("circle", "ring"):
            steps = np.arange(_POLYGON_SIDES) * 2 * np.pi / _POLYGON_SIDES
            outer = [(self.cx + r * np.cos(t), self.cy - r * np.sin(t)) for t in steps]  # counter-clockwise on screen
            if name == "circle":
                return [(float(x), float(y)) for x, y in outer]
            inner = [(self.cx + 0.55 * r * np.cos(t), self.cy - 0.55 * r * np.sin(t)) for t in steps]
            bridged = [*outer, outer[0], inner[0], *inner[:0:-1], inner[0]]
            return [(float(x), float(y)) for x, y in bridged]
        if name == "square":
            side = r / np.sqrt(2)
            local = [(side, side), (side, -side), (-side, -side), (-side, side)]
        elif name == "triangle":  # vertices opposite the edge normals used to draw it
            return [
                (
                    float(self.cx + r * np.cos(self.angle + 3 * np.pi / 2 + k * 2 * np.pi / 3)),
                    float(self.cy + r * np.sin(self.angle + 3 * np.pi / 2 + k * 2 * np.pi / 3)),
                )
                for k in range(3)
            ]
        else:  # cross, arms reaching r, half-width 0.3 r
            a = 0.3 * r
            local = [(r, a), (a, a), (a, r), (-a, r), (-a, a), (-r, a), (-r, -a), (-a, -a), (-a, -r), (a, -r)]
            local += [(a, -a), (r, -a)]
        return self._to_image(local)

    def obb_corners(self) -> list[tuple[float, float]]:
        """The oriented box: a square's rotated outline, else the axis-aligned pixel box (see the module's notes)."""
        if CLASSES[self.cls] == "square":
            return self.outline()
        b = self.box
        return [(b.x0, b.y0), (b.x1, b.y0), (b.x1, b.y1), (b.x0, b.y1)]

    def keypoints(self) -> list[tuple[float, float]]:
        """``KEYPOINTS``: the centre the shape was drawn around, then its box's corners clockwise from top left."""
        b = self.box
        return [(self.cx, self.cy), (b.x0, b.y0), (b.x1, b.y0), (b.x1, b.y1), (b.x0, b.y1)]

    def _to_image(self, local: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """Shape frame (u, v) to image (x, y): the inverse of the rotation ``_coverage`` applies."""
        import numpy as np

        c, s = np.cos(self.angle), np.sin(self.angle)
        return [(float(self.cx + u * c - v * s), float(self.cy + u * s + v * c)) for u, v in local]

    def label_line(self, task: str, imgsz: int) -> str:
        """The shape's line in a ``task`` label file (not classify, whose labels are folders)."""
        if task == "detect":
            return self.box.yolo_line(imgsz)
        if task == "pose":
            return self.box.yolo_line(imgsz) + " " + " ".join(f"{_xy(p, imgsz)} 2" for p in self.keypoints())
        points = {"segment": self.outline, "obb": self.obb_corners}[task]()
        return f"{self.cls} " + " ".join(_xy(p, imgsz) for p in points)


def _xy(point: tuple[float, float], imgsz: int) -> str:
    x, y = (min(max(v / imgsz, 0.0), 1.0) for v in point)
    return f"{x:.6f} {y:.6f}"


@dataclass(frozen=True)
class DatasetInfo:
    root: Path
    data_yaml: Path
    images: dict[str, int]  # split -> image count
    objects: dict[str, int]  # split -> labelled objects
    digest: str  # sha256 of the spec, every image's pixels and every label file: the same wherever PNG bytes differ
    task: str = "detect"

    @property
    def train_data(self) -> Path:
        """What ultralytics' ``train(data=...)`` takes: the data.yaml, or for classify the ImageFolder root."""
        return self.root if self.task == "classify" else self.data_yaml


def generate(
    root: Path, spec: ShapesSpec = ShapesSpec(), splits: tuple[str, ...] = SPLITS, task: str = "detect"
) -> DatasetInfo:
    """Write the dataset of ``task`` under ``root`` (created; existing files of the same names are replaced).

    For classify, ``images``/``objects`` count scenes and crops, and ``data.yaml`` (names in the class index order
    ultralytics gives the folders: sorted) is for the evaluate stage; ultralytics itself takes the folder
    (``train_data``).
    """
    import hashlib

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; one of {', '.join(TASKS)}")
    root = Path(root)
    images: dict[str, int] = {}
    objects: dict[str, int] = {}
    # detect's digest is the one pinned before there were other tasks: its spec line stays as it was
    content = hashlib.sha256((f"{spec}\n" if task == "detect" else f"{spec} task={task}\n").encode())
    for split in splits:
        if task == "classify":
            for cls_name in CLASSES:
                (root / split / cls_name).mkdir(parents=True, exist_ok=True)
        else:
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        objects[split] = 0
        for index in range(spec.count(split)):
            pixels, shapes = render_scene(spec, split, index)
            name = f"{index:05d}"
            if task == "classify":
                for k, shape in enumerate(shapes):
                    crop = crop_shape(pixels, shape.box)
                    relative = f"{split}/{CLASSES[shape.cls]}/{name}_{k}.png"
                    (root / relative).write_bytes(encode_png(crop))
                    content.update(f"{relative} {crop.shape}\n".encode() + crop.tobytes())
                objects[split] += len(shapes)
                continue
            label_text = "".join(shape.label_line(task, spec.imgsz) + "\n" for shape in shapes)
            (root / "images" / split / f"{name}.png").write_bytes(encode_png(pixels))
            (root / "labels" / split / f"{name}.txt").write_text(label_text)
            content.update(f"{split}/{name} {pixels.shape}\n".encode() + pixels.tobytes() + label_text.encode())
            objects[split] += len(shapes)
        images[split] = spec.count(split)
    data_yaml = root / "data.yaml"
    data_yaml.write_text(_classify_yaml(splits) if task == "classify" else _data_yaml(splits, task))
    return DatasetInfo(root, data_yaml, images, objects, content.hexdigest(), task)


def crop_shape(pixels: np.ndarray, box: Box, margin: int = CROP_MARGIN) -> np.ndarray:
    """A square crop centred on ``box``, side ``max(w, h) + 2 * margin``, edge pixels repeated outside the image."""
    import numpy as np

    side = max(box.x1 - box.x0, box.y1 - box.y0) + 2 * margin
    x0 = (box.x0 + box.x1 - side) // 2
    y0 = (box.y0 + box.y1 - side) // 2
    height, width = pixels.shape[:2]
    pad = ((max(-y0, 0), max(y0 + side - height, 0)), (max(-x0, 0), max(x0 + side - width, 0)), (0, 0))
    inside = pixels[max(y0, 0) : min(y0 + side, height), max(x0, 0) : min(x0 + side, width)]
    return np.pad(inside, pad, mode="edge")


def files_digest(root: Path) -> str:
    """sha256 over ``<relative path> <sha256>`` of every file under ``root`` (sorted; ultralytics' caches skipped)."""
    lines = [
        f"{path.relative_to(root).as_posix()} {sha256_file(path)}\n"
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.suffix != ".cache"  # ultralytics writes labels/*.cache beside the labels
    ]
    return sha256_text("".join(lines))


def _classify_yaml(splits: tuple[str, ...]) -> str:
    # ultralytics numbers ImageFolder classes in sorted folder-name order; the evaluate stage reads this file
    lines = [
        "# Synthetic shape crops (builder/fixtures/shapes.py), ImageFolder layout; ultralytics: data=<this folder>"
    ]
    lines += [f"{split}: {split}" for split in SPLITS if split in splits]
    lines.append("names:")
    lines += [f"  {i}: {name}" for i, name in enumerate(sorted(CLASSES))]
    return "\n".join(lines) + "\n"


def _data_yaml(splits: tuple[str, ...], task: str = "detect") -> str:
    # No "path:" key: ultralytics then resolves images/... against this file's folder, wherever it is.
    lines = ["# Synthetic shapes (builder/fixtures/shapes.py); regenerate with: make fixture-model"]
    if task != "detect":
        lines[0] += f" TASK={task}"
    lines += [f"{split}: images/{split}" for split in SPLITS if split in splits]
    if "train" not in splits:
        lines.append("train: images/val  # only the val split was generated")
    lines.append("names:")
    lines += [f"  {i}: {name}" for i, name in enumerate(CLASSES)]
    if task == "pose":
        lines.append(f"kpt_shape: [{len(KEYPOINTS)}, 3]")
        lines.append(f"flip_idx: [{', '.join(str(i) for i in FLIP_IDX)}]")
        lines.append(f"kpt_names: {{{', '.join(f'{i}: {name}' for i, name in enumerate(KEYPOINTS))}}}")
    return "\n".join(lines) + "\n"


def render_image(spec: ShapesSpec, split: str, index: int) -> tuple[np.ndarray, list[Box]]:
    """One ``imgsz x imgsz x 3`` uint8 RGB image and its boxes, a pure function of (spec, split, index)."""
    pixels, shapes = render_scene(spec, split, index)
    return pixels, [shape.box for shape in shapes]


def render_scene(spec: ShapesSpec, split: str, index: int) -> tuple[np.ndarray, list[Shape]]:
    """One ``imgsz x imgsz x 3`` uint8 RGB image and its shapes, in drawing order, a pure function of the arguments."""
    import numpy as np

    rng = np.random.default_rng([spec.seed, _SPLIT_KEYS[split], index])
    canvas = _background(rng, spec.imgsz)
    shapes: list[Shape] = []
    for _ in range(int(rng.integers(1, spec.max_objects + 1))):
        for _attempt in range(20):
            placed = _try_place(rng, spec, canvas, [shape.box for shape in shapes])
            if placed is not None:
                shapes.append(placed)
                break
    return np.clip(canvas, 0, 255).round().astype(np.uint8), shapes


def _background(rng: Any, size: int) -> np.ndarray:
    import numpy as np

    base = rng.uniform(0, 255, 3)
    other = rng.uniform(0, 255, 3)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    kind = int(rng.integers(0, 5))
    if kind == 0:  # flat
        weight = np.zeros((size, size))
    elif kind == 1:  # linear gradient in a random direction
        angle = rng.uniform(0, 2 * np.pi)
        ramp = xx * np.cos(angle) + yy * np.sin(angle)
        weight = (ramp - ramp.min()) / (ramp.max() - ramp.min())
    elif kind == 2:  # noise
        weight = rng.uniform(0, 0.5, (size, size))
    elif kind == 3:  # stripes
        period, angle = rng.uniform(8, 40), rng.uniform(0, np.pi)
        weight = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0).astype(np.float64) * 0.5
    else:  # checkerboard
        cell = int(rng.integers(8, 48))
        weight = (((xx // cell) + (yy // cell)) % 2) * 0.5
    return base * (1 - weight[..., None]) + other * weight[..., None]


def _try_place(rng: Any, spec: ShapesSpec, canvas: np.ndarray, boxes: list[Box]) -> Shape | None:
    import numpy as np

    cls = int(rng.integers(0, len(CLASSES)))
    size = rng.uniform(spec.min_size, spec.max_size)
    half = size / 2
    cx, cy = rng.uniform(half, spec.imgsz - half, 2)
    angle = rng.uniform(0, 2 * np.pi)
    colour = _contrasting_colour(rng, canvas, cx, cy, half)
    stripes = rng.uniform() < 0.3
    stripe_colour = np.clip(colour * rng.uniform(0.4, 0.8), 0, 255)
    stripe_period = rng.uniform(4, 10)
    # the patch of pixels the shape can touch
    px0, py0 = max(int(np.floor(cx - half)) - 1, 0), max(int(np.floor(cy - half)) - 1, 0)
    px1, py1 = min(int(np.ceil(cx + half)) + 1, spec.imgsz), min(int(np.ceil(cy + half)) + 1, spec.imgsz)
    cover = _coverage(cls, px0, py0, px1, py1, cx, cy, half, angle)
    rows, cols = np.nonzero(cover >= 0.5)
    if rows.size == 0:
        return None
    box = Box(cls, px0 + int(cols.min()), py0 + int(rows.min()), px0 + int(cols.max()) + 1, py0 + int(rows.max()) + 1)
    if any(_iou(box, other) > _MAX_BOX_IOU or _covered(other, box) > _MAX_COVERED for other in boxes):
        return None
    fill = np.broadcast_to(colour, (py1 - py0, px1 - px0, 3)).copy()
    if stripes:
        yy, xx = np.mgrid[py0:py1, px0:px1]
        band = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / stripe_period) > 0
        fill[band] = stripe_colour
    patch = canvas[py0:py1, px0:px1]
    canvas[py0:py1, px0:px1] = patch * (1 - cover[..., None]) + fill * cover[..., None]
    return Shape(box, float(cx), float(cy), float(half), float(angle))


def _contrasting_colour(rng: Any, canvas: np.ndarray, cx: float, cy: float, half: float) -> np.ndarray:
    """A colour at least 120 (RGB distance) from the mean of the background under the shape."""
    import numpy as np

    y0, y1 = int(max(cy - half, 0)), int(min(cy + half, canvas.shape[0]))
    x0, x1 = int(max(cx - half, 0)), int(min(cx + half, canvas.shape[1]))
    mean = canvas[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0)
    colour = rng.uniform(0, 255, 3)
    for _ in range(20):
        if np.linalg.norm(colour - mean) >= 120:
            break
        colour = rng.uniform(0, 255, 3)
    else:
        colour = np.where(mean > 127, 0.0, 255.0)
    return colour


def _coverage(
    cls: int, px0: int, py0: int, px1: int, py1: int, cx: float, cy: float, r: float, angle: float
) -> np.ndarray:
    """Fraction of each pixel of the patch inside the shape (supersampled)."""
    import numpy as np

    n = _SUPERSAMPLE
    offsets = (np.arange(n) + 0.5) / n
    ys = (np.arange(py0, py1)[:, None] + offsets[None, :]).reshape(-1)
    xs = (np.arange(px0, px1)[:, None] + offsets[None, :]).reshape(-1)
    dy, dx = np.meshgrid(ys - cy, xs - cx, indexing="ij")
    c, s = np.cos(angle), np.sin(angle)
    u, v = dx * c + dy * s, -dx * s + dy * c  # coordinates in the shape's own rotated frame
    name = CLASSES[cls]
    if name == "circle":
        inside = dx**2 + dy**2 <= r**2
    elif name == "ring":
        dist2 = dx**2 + dy**2
        inside = (dist2 <= r**2) & (dist2 >= (0.55 * r) ** 2)
    elif name == "square":
        side = r / np.sqrt(2)  # the square's corners lie on the circle of radius r
        inside = (np.abs(u) <= side) & (np.abs(v) <= side)
    elif name == "triangle":  # equilateral, vertices on the circle of radius r
        inside = np.ones_like(u, dtype=bool)
        for k in range(3):
            theta = angle + np.pi / 2 + k * 2 * np.pi / 3  # outward normal of one edge
            inside &= dx * np.cos(theta) + dy * np.sin(theta) <= r / 2
    else:  # cross: two bars, arms reaching the circle of radius r
        arm = 0.3 * r
        inside = ((np.abs(u) <= r) & (np.abs(v) <= arm)) | ((np.abs(v) <= r) & (np.abs(u) <= arm))
    return inside.reshape(py1 - py0, n, px1 - px0, n).mean(axis=(1, 3))


def _iou(a: Box, b: Box) -> float:
    inter = _intersection(a, b)
    union = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - inter
    return inter / union if union else 0.0


def _covered(old: Box, new: Box) -> float:
    return _intersection(old, new) / max((old.x1 - old.x0) * (old.y1 - old.y0), 1)


def _intersection(a: Box, b: Box) -> int:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(w, 0) * max(h, 0)


def encode_png(pixels: np.ndarray) -> bytes:
    """An RGB8 PNG of ``pixels`` (H x W x 3 uint8): no timestamps or text chunks, so the bytes are reproducible."""
    height, width, _ = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))  # filter type 0 on every row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")

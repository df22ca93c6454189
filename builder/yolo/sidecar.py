"""``metadata.json``: what an application needs to feed the model and read its output.

The content depends only on the build inputs (no timestamps), so it is
byte-identical across rebuilds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from builder.pipeline.stage_types import ExportResult
from builder.profile import Profile

METADATA_NAME = "metadata.json"
SCHEMA_VERSION = 1

PREPROCESSING = {
    "letterbox": {"color": [114, 114, 114], "center": True, "scaleup": True, "interpolation": "linear"},
    "channel_order": "RGB",
    "scale": 1 / 255,
    "layout": "NCHW",
    "dtype": "float32",
}


def sidecar_metadata(profile: Profile, export: ExportResult, model_file: str) -> dict[str, Any]:
    """Build the sidecar from the profile and the export stage's result.

    Shapes are those at the profile's image size; ``-1`` marks a dynamic batch.
    """
    return {
        "schema_version": SCHEMA_VERSION,
        "profile": profile.name,
        "backend": profile.backend.value,
        "model_file": model_file,
        "task": export.task,
        "precision": profile.precision.value,
        "imgsz": list(profile.imgsz),
        "stride": export.stride,
        "batch": {"min": profile.batch.min, "opt": profile.batch.opt, "max": profile.batch.max},
        "inputs": [export.input.to_dict()],
        "outputs": [v.to_dict() for v in export.outputs],
        "names": list(export.names),  # index = class id
        "preprocessing": classify_preprocessing(profile.imgsz[0]) if export.task == "classify" else PREPROCESSING,
        "output_decoding": _decoding(export),
    }


def classify_preprocessing(size: int) -> dict[str, Any]:
    """ultralytics' ``classify_transforms(size)`` (no letterbox): builder/yolo/tasks/classify.py ``image_to_tensor``."""
    return {
        "resize": {"shortest_side": size, "interpolation": "bilinear"},
        "center_crop": [size, size],
        "channel_order": "RGB",
        "scale": 1 / 255,
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "layout": "NCHW",
        "dtype": "float32",
    }


def _decoding(export: ExportResult) -> dict[str, Any]:
    if export.task != "detect":
        return _task_decoding(export)
    if export.nms == "external":
        return _detect_decoding(len(export.names))
    return {  # outputs.nms embedded / end2end (docs/outputs.md)
        "format": "final_detections",
        "nms": export.nms,
        "layout": ["batch", "max_det", "6"],
        "num_classes": len(export.names),
        "boxes": "x1, y1, x2, y2 in input pixels (letterboxed image), columns 0-3",
        "scores": "column 4, highest first, no confidence threshold applied; column 5: class id (as float)",
        "padding": "rows of score 0 after the last detection" if export.nms == "embedded" else "none",
    }


def _detect_decoding(num_classes: int) -> dict[str, Any]:
    return {
        "format": "xywh+class_scores",
        "layout": ["batch", "4+nc", "anchors"],
        "num_classes": num_classes,
        "boxes": "centre x, centre y, width, height in input pixels (letterboxed image)",
        "scores": "per-class scores after sigmoid; no NMS applied",
    }


def _task_decoding(export: ExportResult) -> dict[str, Any]:
    """How to read a segment, pose, obb or classify model's raw outputs (ultralytics' heads, docs/tasks.md): per
    row range of the first output what it holds, and the recipe (``how``)."""
    nc = len(export.names)
    extra = export.outputs[0].shape[1] - 4 - nc if len(export.outputs[0].shape) == 3 else 0
    nms = "ultralytics' non_max_suppression(prediction, conf, iou, nc=num_classes"
    rows = {
        "boxes": "rows 0-3: centre x, centre y, width, height in input pixels (letterboxed image)",
        "scores": f"rows 4-{3 + nc}: per-class scores after sigmoid; no NMS applied",
    }
    first, last = 4 + nc, 3 + nc + extra
    if export.task == "segment":
        protos = export.outputs[1] if len(export.outputs) > 1 else None
        return {
            "format": "xywh+class_scores+mask_coefficients",
            "layout": ["batch", f"4+nc+{extra}", "anchors"],
            "num_classes": nc,
            **rows,
            "mask_coefficients": extra,
            "coefficients": f"rows {first}-{last}: the instance's {extra} mask coefficients",
            "prototypes": f"{protos.name}: [batch, {extra}, H/4, W/4]" if protos is not None else None,
            "masks": f"sigmoid(coefficients [1, {extra}] x prototypes [{extra}, H/4 * W/4]) as an H/4 x W/4 map, "
            "upsampled (bilinear) to the input size, zero outside the box, > 0.5 is the mask; then undo the "
            "letterbox: cut the padding off, resize to the image",
            "how": f"{nms}) on the first output; the kept rows' last {extra} values times the prototypes, sigmoid, "
            "cropped to the box: the masks (ultralytics.utils.ops.process_mask)",
        }
    if export.task == "pose":
        count = extra // 3
        return {
            "format": "xywh+class_scores+keypoints",
            "layout": ["batch", f"4+nc+{extra}", "anchors"],
            "num_classes": nc,
            **rows,
            "keypoints": {
                "count": count,
                "values": ["x", "y", "visibility"],
                "rows": f"rows {first}-{last}: keypoint k (0-{count - 1}) at rows {first} + 3k (x), {first} + 3k + 1 "
                f"(y), {first} + 3k + 2 (visibility)",
            },
            "how": f"{nms}); each kept row's keypoints follow its class scores: x, y in input pixels, visibility "
            "after sigmoid",
        }
    if export.task == "obb":
        return {
            "format": "xywh+class_scores+angle",
            "layout": ["batch", f"4+nc+{extra}", "anchors"],
            "num_classes": nc,
            **rows,
            "angle": f"row {last}: the box's rotation in radians about its centre (xywhr); YOLO11's OBB head "
            "gives it in [-pi/4, 3pi/4); ultralytics' predictor regularizes the kept boxes "
            "(ultralytics.utils.ops.regularize_rboxes: width >= height, angle in [0, pi/2))",
            "how": f"{nms}, rotated=True): rotated NMS by probiou; the last value is the angle in radians",
        }
    return {
        "format": "class_probabilities",
        "layout": ["batch", "nc"],
        "num_classes": nc,
        "probabilities": "column c: the probability of class c (softmax already applied, each row sums to 1)",
        "how": "softmax already applied; top-1 class = argmax. Preprocess as ultralytics' classify_transforms: "
        "shortest side resized to the input size (bilinear), centre crop, RGB / 255 (no letterbox)",
    }


def write_sidecar(path: Path, metadata: Mapping[str, Any]) -> None:
    """Write canonical JSON (sorted keys, 2-space indent, trailing newline)."""
    path.write_text(json.dumps(metadata, indent=2, sort_keys=True) + "\n", encoding="utf-8")

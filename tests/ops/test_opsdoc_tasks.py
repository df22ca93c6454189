"""OPS.md says how to read each task's outputs: segment's two outputs, pose's keypoint rows, obb's angle, classify's
probabilities (and its preprocessing, which is no letterbox), end-to-end final detections; and the accuracy line names
the task's own metric. The metadata comes from the sidecar code (builder/yolo/sidecar.py) for each shipped task
profile, with the export shapes measured on the shipped fixtures at 256 (64 for classify): 1344 anchors."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from builder.ops.opsdoc import render_ops_doc
from builder.ops.triton import triton_model
from builder.pipeline.stage_types import ArtifactOut, ExportResult, TensorSpec
from builder.profile import load_profile
from builder.record.manifest_read import read_manifest
from builder.yolo.sidecar import sidecar_metadata
from tests.ops.fakes import synthetic_manifest
from tests.support import REPO

NAMES = ("circle", "square", "triangle", "pentagon", "star")
OUTPUTS = {  # task -> its exported outputs at the profile's size (tests/fixture_trainer/test_task_gates.py builds them)
    "segment": (
        TensorSpec("output0", (1, 4 + 5 + 32, 1344), "float32"),
        TensorSpec("output1", (1, 32, 64, 64), "float32"),
    ),
    "pose": (TensorSpec("output0", (1, 4 + 5 + 15, 1344), "float32"),),
    "obb": (TensorSpec("output0", (1, 4 + 5 + 1, 1344), "float32"),),
    "classify": (TensorSpec("output0", (1, 5), "float32"),),
}


def _metadata(task: str, profile_name: str | None = None, nms: str = "external") -> dict[str, Any]:
    profile = load_profile(profile_name or f"cpu-fp32-{task}", REPO / "profiles")
    size = profile.imgsz
    outputs = OUTPUTS.get(task, (TensorSpec("output0", (1, 300, 6), "float32"),))
    export = ExportResult(
        ArtifactOut("model.onnx", "onnx"), TensorSpec("images", (1, 3, *size), "float32"), outputs, NAMES, 32, task, nms
    )
    return sidecar_metadata(profile, export, "model.ort.onnx")


def _doc(metadata: dict[str, Any], evaluate: dict[str, Any] | None = None) -> str:
    manifest = synthetic_manifest(metadata["profile"])
    stages = {s["name"]: s["details"] for s in manifest["stages"]}
    manifest["verification"], manifest["benchmark"] = stages["verify"], stages["benchmark"]
    if evaluate is not None:
        manifest["stages"].append({"name": "evaluate", "status": "ok", "details": evaluate})
    manifest["artifacts"] = [{"path": "model.ort.onnx", "kind": "model", "size": 1, "sha256": "2" * 64}]
    view = read_manifest(manifest)
    return render_ops_doc(view, metadata, triton_model(view, metadata), [("build/metadata.json", 1, "3" * 64)])


def _outputs_section(doc: str) -> str:
    return doc.split("## Outputs")[1].split("## What the target host needs")[0]


def test_segment_says_which_output_is_which_and_how_masks_are_made() -> None:
    text = _outputs_section(_doc(_metadata("segment")))
    assert "| `output0` | [1, 41, 1344] | float32 |" in text and "| `output1` | [1, 32, 64, 64] | float32 |" in text
    assert "- Boxes: rows 0-3: centre x, centre y, width, height in input pixels" in text
    assert "- Scores: rows 4-8: per-class scores after sigmoid" in text
    assert "- Mask coefficients: rows 9-40: the instance's 32 mask coefficients." in text
    assert "- Prototypes (second output): output1: [batch, 32, H/4, W/4]." in text
    assert "- Masks: sigmoid(coefficients [1, 32] x prototypes [32, H/4 * W/4])" in text and "> 0.5" in text
    assert "NMS per class; undo the letterbox" in text


def test_pose_lays_out_each_keypoint_row() -> None:
    text = _outputs_section(_doc(_metadata("pose")))
    assert "| `output0` | [1, 24, 1344] | float32 |" in text
    assert (
        "- Keypoints: 5 per instance, each (x, y, visibility); rows 9-23: keypoint k (0-4) at rows 9 + 3k (x), " in text
    )
    assert "9 + 3k + 2 (visibility)" in text and "undo the letterbox as for boxes" in text


def test_obb_names_the_angle_row_its_unit_and_range() -> None:
    text = _outputs_section(_doc(_metadata("obb")))
    assert "| `output0` | [1, 10, 1344] | float32 |" in text
    assert "- Angle: row 9: the box's rotation in radians about its centre (xywhr)" in text
    assert "[-pi/4, 3pi/4)" in text and "regularize_rboxes" in text and "rotated NMS by probiou" in text


def test_classify_reads_probabilities_and_is_not_letterboxed() -> None:
    doc = _doc(_metadata("classify"))
    text = _outputs_section(doc)
    assert "| `output0` | [1, 5] | float32 |" in text
    assert "- Probabilities: column c: the probability of class c (softmax already applied" in text
    assert "Layout [batch, nc]: softmax already applied; top-1 class = argmax" in text
    assert "- Boxes" not in text and "NMS" not in text
    pre = doc.split("## Preprocessing")[1].split("## Outputs")[0]
    assert "No letterbox: resize so that the shorter side is 64 pixels" in pre and "centre 64x64" in pre
    assert "Letterbox to" not in pre and "mean [0.0, 0.0, 0.0], std [1.0, 1.0, 1.0]" in pre


@pytest.mark.parametrize(
    ("profile", "padding"), [("cpu-fp32-shapes-nms", "rows of score 0"), ("cpu-fp32-yolo26-e2e", "none")]
)
def test_final_detections_are_read_row_by_row(profile: str, padding: str) -> None:
    metadata = _metadata("detect", profile, nms=load_profile(profile, REPO / "profiles").outputs.nms)
    text = _outputs_section(_doc(metadata))
    assert "| `output0` | [1, 300, 6] | float32 |" in text and "no NMS to run" in text
    assert "x1, y1, x2, y2 in input pixels" in text and "column 5: class id" in text
    assert f"- Padding: {padding}" in text


def test_the_accuracy_line_names_the_tasks_metric() -> None:
    from builder.pipeline.stages.evaluate import gate_report
    from builder.profile.model import AccuracySpec
    from builder.yolo.tasks.common import TaskResult

    def evaluate(task: str, metric: str) -> dict[str, Any]:
        result = TaskResult(task, metric, 0.99, 0.95, {}, 100, 100)
        details = gate_report(AccuracySpec("d.yaml"), result, result, task)
        return {**details, "data": "d.yaml", "split": "val"}

    classify = _doc(_metadata("classify"), evaluate("classify", "top-1 accuracy"))
    assert "top-1 accuracy 0.9500, top-5 0.9900; the FP32 reference 0.9500 / 0.9900; drop +0.0000" in classify
    segment = _doc(_metadata("segment"), evaluate("segment", "mask mAP50-95"))
    assert "mask mAP50-95 0.9500, mAP50 0.9900" in segment


def test_detect_keeps_its_letterbox_preprocessing() -> None:
    doc = _doc(copy.deepcopy(_metadata("detect", "cpu-fp32-shapes", nms="external")))
    assert "Letterbox to 256x256" in doc and "Format `xywh+class_scores`" in doc

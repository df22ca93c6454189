"""Stage ``evaluate``: the mAP gate. The artifact and the FP32 reference, scored on a labelled split.

With a profile's ``accuracy`` block, both the exported FP32 ONNX model (on ONNX Runtime) and the built artifact
(on its own backend, through ``get_backend(profile.backend).make_runner``, so a TensorRT engine runs in Polygraphy's
``TrtRunner``) are scored by :func:`builder.yolo.evaluation.evaluate`: ultralytics' letterbox, NMS and metrics.
The manifest records mAP50, mAP50-95 and per-class AP of both, the drop and the per-class deltas. The build
fails (exit 4) when the artifact's mAP50-95 is more than ``max_map_drop`` below the reference's, or below
``min_map50_95``. Without an ``accuracy`` block the stage is skipped.
"""

from __future__ import annotations

import time
from typing import Any

from builder.backends.registry import get_backend
from builder.errors import StageError
from builder.pipeline.stage_types import BuildResult, ExportResult, StageContext, StageResult, StageStatus
from builder.profile import AccuracySpec
from builder.yolo.evaluation import METHOD, MapResult, evaluate, evaluate_task, task_method
from builder.yolo.tasks import load_accuracy_split
from builder.yolo.tasks.common import TaskResult

NAME = "evaluate"
REFERENCE_BACKEND = "onnxruntime"  # the FP32 ONNX model on ONNX Runtime is the reference, as in verify


class AccuracyGateError(StageError):
    """The artifact's mAP fell below the gate; ``details`` holds the full report for the manifest."""

    def __init__(self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(NAME, message, hint=hint)
        self.details = details or {}


def run(ctx: StageContext) -> StageResult:
    """Score reference and artifact on the profile's split; raise when the artifact fails the gate.

    Raises:
        AccuracyGateError: the mAP drop exceeds ``accuracy.max_map_drop``, or mAP50-95 is below ``min_map50_95``.
        DatasetError: the data set is missing or malformed.
    """
    spec = ctx.profile.accuracy
    if spec is None:
        return StageResult(details={"skipped": "no `accuracy` block in the profile"}, status=StageStatus.SKIPPED)
    export, build = ctx.handed(ExportResult), ctx.handed(BuildResult)
    if export is None or build is None:
        raise StageError(NAME, "no export and build results to evaluate", hint="run the export and build stages first")
    task = export.task
    split = load_accuracy_split(task, ctx.models_dir, spec.data, spec.split, spec.samples)
    ctx.log(f"evaluate: {task} metric on {len(split.images)} image(s) of {spec.data} [{spec.split}]")
    started = time.perf_counter()
    batch = ctx.profile.batch.opt
    reference_runner = get_backend(REFERENCE_BACKEND).make_runner(ctx.path(export.onnx), ctx.profile)
    artifact_runner = get_backend(ctx.profile.backend.value).make_runner(ctx.path(build.model), ctx.profile)
    final = export.nms != "external"  # the outputs are final detections: NMS only filters them
    imgsz = ctx.profile.imgsz
    if task == "detect":
        output = export.outputs[0].name
        reference: Any = evaluate(reference_runner, export.input.name, output, split, imgsz, batch, end2end=final)
        artifact: Any = evaluate(artifact_runner, build.input_name, output, split, imgsz, batch, end2end=final)
        method = (
            METHOD
            if not final
            else f"{METHOD}; outputs.nms {export.nms}: the model's own selection, filtered at conf 0.001"
        )
    else:
        outputs = tuple(o.name for o in export.outputs)
        reference = evaluate_task(task, reference_runner, export.input.name, outputs, split, imgsz, batch)
        artifact = evaluate_task(task, artifact_runner, build.input_name, outputs, split, imgsz, batch)
        method = task_method(task)
    details = gate_report(spec, reference, artifact, task)
    details.update(
        data=spec.data,
        split=spec.split,
        data_sha256=split.content_sha256(),
        method=method,
        seconds=round(time.perf_counter() - started, 2),
    )
    _raise_on_failure(details, build.model.path)
    ctx.log(
        f"evaluate: passed ({details['metric']} {artifact.map50_95:.4f}, reference {reference.map50_95:.4f}, "
        f"drop {details['map50_95_drop']:+.4f})"
    )
    return StageResult(details=details)


def gate_report(
    spec: AccuracySpec, reference: MapResult | TaskResult, artifact: MapResult | TaskResult, task: str = "detect"
) -> dict[str, Any]:
    """Both results, the gated metric's drop (reference minus artifact; mAP50-95, or the task's: mask, pose, OBB
    mAP50-95, classify top-1) and its name (``metric``: what nightly drift reports, builder/ops/drift.py), per-class
    deltas and the verdicts."""
    drop = round(reference.map50_95 - artifact.map50_95, 4)
    deltas = {
        name: round(artifact.per_class_ap50_95.get(name, 0.0) - ap, 4)
        for name, ap in reference.per_class_ap50_95.items()
    }
    floor_ok = spec.min_map50_95 is None or artifact.map50_95 >= spec.min_map50_95
    return {
        "task": task,
        "metric": getattr(artifact, "metric", "mAP50-95"),
        "reference": reference.as_dict(),
        "artifact": artifact.as_dict(),
        "map50_drop": round(reference.map50 - artifact.map50, 4),
        "map50_95_drop": drop,
        "per_class_ap50_95_delta": deltas,
        "thresholds": {"max_map_drop": spec.max_map_drop, "min_map50_95": spec.min_map50_95},
        "passed": {"drop": drop <= spec.max_map_drop, "floor": floor_ok},
    }


def _raise_on_failure(details: dict[str, Any], model_name: str) -> None:
    ref, got = details["reference"], details["artifact"]
    worst = sorted(details["per_class_ap50_95_delta"].items(), key=lambda item: item[1])[:3]
    classes = ", ".join(f"{name} {delta:+.3f}" for name, delta in worst)
    hint = (
        "keep more of the model in higher precision (for ONNX Runtime INT8: `int8.head: float`), calibrate on "
        "more representative images, or, if this loss is acceptable, raise `accuracy.max_map_drop`"
    )
    metric = details.get("metric", "mAP50-95")
    key = "top1" if details.get("task") == "classify" else "map50_95"
    if not details["passed"]["drop"]:
        raise AccuracyGateError(
            f"{model_name}: {metric} {got[key]:.4f} is {details['map50_95_drop']:.4f} below the FP32 "
            f"reference's {ref[key]:.4f} (allowed drop {details['thresholds']['max_map_drop']}) on "
            f"{got['images']} image(s) of {details['data']} [{details['split']}]; worst classes: {classes}",
            hint=hint,
            details=details,
        )
    if not details["passed"]["floor"]:
        raise AccuracyGateError(
            f"{model_name}: {metric} {got[key]:.4f} is below `accuracy.min_map50_95` "
            f"{details['thresholds']['min_map50_95']} (FP32 reference: {ref[key]:.4f})",
            hint="if the reference is low too, the model or the data set is the problem, not the build; " + hint,
            details=details,
        )

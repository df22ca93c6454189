"""Stage ``verify``: the built artifact against the FP32 ONNX model on ONNX Runtime.

Two checks on the same inputs (``verify.random_inputs`` seeded uniform [0, 1)
tensors, then each sample image letterboxed like ultralytics; at batch ``opt``,
and also ``min`` and ``max`` for a dynamic batch, images replicated to fill the batch):

1. tensors: Polygraphy ``Comparator`` with per-output ``atol``/``rtol``
   (Polygraphy's element-wise rule: an element fails only if it exceeds both);
2. detections, on image inputs: the reference's top-k detections after
   class-aware NMS, each matched to one of the artifact's top-(2k) (the slack
   absorbs near-ties at the top-k boundary) with the same class, IoU and score
   within the profile's thresholds.

A failed check raises :class:`VerificationError`; its ``details`` attribute
holds the same report the stage returns on success.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from builder.backends.registry import get_backend
from builder.errors import VerificationError
from builder.pipeline.stage_types import BuildResult, ExportResult, StageContext, StageResult
from builder.profile import Profile
from builder.yolo.detections import decode_detections, final_detections, match_detections, select_end2end
from builder.yolo.preprocess import image_to_tensor, load_image, sample_image_paths
from builder.yolo.shapes import input_shape

NAME = "verify"
CANDIDATE_POOL = 2  # artifact detections kept per reference detection
REFERENCE_BACKEND = "onnxruntime"  # the FP32 ONNX model on ONNX Runtime is the reference
REFERENCE_NAME = "reference:onnxrt-fp32"
RAW_KEY = " raw head"  # where a final-detections build's reference raw head is kept beside the outputs
FINAL_NOT_GATING = (
    "final detections: rows swap places where scores nearly tie, so the element-wise comparison is recorded "
    "only; the detection check (against the raw head decoded by the verify stage's code) gates them"
)


@dataclass(frozen=True)
class VerifyInput:
    label: str  # "random 0" or "image bus.jpg"
    image: bool
    batch: int
    array: np.ndarray  # float32 (batch, 3, H, W)


def verification_inputs(profile: Profile, models_dir: Path) -> list[VerifyInput]:
    """Seeded random tensors and letterboxed sample images, at each batch size to check."""
    sizes = [profile.batch.opt] + ([profile.batch.min, profile.batch.max] if profile.dynamic else [])
    batches = list(dict.fromkeys(sizes))
    rng = np.random.default_rng(profile.verify.seed)
    paths = sample_image_paths(profile.verify.images, models_dir)
    images = [(p.name, image_to_tensor(load_image(p), profile.imgsz)) for p in paths]
    inputs = []
    for batch in batches:
        for index in range(profile.verify.random_inputs):
            array = rng.random(input_shape(profile, batch), dtype=np.float32)
            inputs.append(VerifyInput(f"random {index}", False, batch, array))
        for name, tensor in images:
            inputs.append(VerifyInput(f"image {name}", True, batch, np.repeat(tensor, batch, axis=0)))
    return inputs


def run(ctx: StageContext) -> StageResult:
    """Compare the artifact with the FP32 reference; raise on any failed check.

    Raises:
        VerificationError: a tensor exceeds its tolerance, detections disagree, or inference fails.
    """
    profile = ctx.profile
    export, build = ctx.handed(ExportResult), ctx.handed(BuildResult)
    if export is None or build is None:
        raise VerificationError("no export and build results to verify", hint="run the export and build stages first")
    onnx_path, model_path = ctx.path(export.onnx), ctx.path(build.model)
    inputs = verification_inputs(profile, ctx.models_dir)
    backend = get_backend(profile.backend.value)
    ctx.log(f"verify: {model_path.name} vs FP32 {onnx_path.name} on {len(inputs)} input(s)")
    reference = get_backend(REFERENCE_BACKEND).make_runner(onnx_path, profile)
    reference.name = REFERENCE_NAME  # Polygraphy keys results by runner name; the two must differ
    candidate = backend.make_runner(model_path, profile)
    ref_outputs, got_outputs, accuracy = _run_and_compare(reference, candidate, export.input.name, inputs, profile)
    tensors = _tensor_report(accuracy, inputs, profile)
    if export.nms != "external":
        tensors["not_gating"] = {o.name: FINAL_NOT_GATING for o in export.outputs}
        raw = _reference_head(onnx_path, export, inputs, ctx.scratch)
        ref_outputs = [{**out, RAW_KEY: head} for out, head in zip(ref_outputs, raw, strict=True)]
    detections = _detection_report(ref_outputs, got_outputs, inputs, profile, export)
    details = _json_safe({"inputs": len(inputs), "tensors": tensors, "detections": detections})
    _raise_on_failure(details, model_path)
    ctx.log(f"verify: passed ({_summary(tensors, detections)})")
    return StageResult(details=details)


def _run_and_compare(
    reference: Any, candidate: Any, input_name: str, inputs: list[VerifyInput], profile: Profile
) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]], list[dict[str, Any]]]:
    os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"
    from polygraphy.comparator import Comparator

    feeds = [{input_name: item.array} for item in inputs]
    try:
        results = Comparator.run([reference, candidate], data_loader=feeds)
    except Exception as err:
        raise VerificationError(
            f"inference failed while comparing {candidate.name} with the reference: {err}",
            hint="check the artifact accepts the profile's batch sizes and image size",
        ) from err
    (_, ref_iters), (_, got_iters) = list(results.items())
    names = list(ref_iters[0].keys())
    tolerances = {n: profile.verify.tolerance_for(n) for n in names}
    atol = {n: t.atol for n, t in tolerances.items()}
    compare = _simple_compare(atol=atol, rtol={n: t.rtol for n, t in tolerances.items()})
    accuracy = Comparator.compare_accuracy(results, compare_func=compare)
    pair = accuracy if hasattr(accuracy, "items") else accuracy[0]  # older Polygraphy returns one AccuracyResult
    ((_, per_iteration),) = list(pair.items())
    as_arrays = lambda iters: [{k: np.asarray(v) for k, v in it.items()} for it in iters]  # noqa: E731
    return as_arrays(ref_iters), as_arrays(got_iters), list(per_iteration)


def _simple_compare(atol: dict[str, float], rtol: dict[str, float]) -> Any:
    try:
        from polygraphy.comparator import SimpleCompareFunc  # newer Polygraphy; CompareFunc.simple is deprecated
    except ImportError:
        from polygraphy.comparator import CompareFunc

        return CompareFunc.simple(atol=atol, rtol=rtol)
    return SimpleCompareFunc(atol=atol, rtol=rtol)


def _tensor_report(per_iteration: list[dict[str, Any]], inputs: list[VerifyInput], profile: Profile) -> dict[str, Any]:
    outputs: dict[str, dict[str, Any]] = {}
    iterations = []
    for item, compared in zip(inputs, per_iteration, strict=False):
        row = {}
        for name, result in compared.items():
            tol = profile.verify.tolerance_for(name)
            empty = {"atol": tol.atol, "rtol": tol.rtol, "max_abs": 0.0, "max_rel": 0.0, "failed_inputs": 0}
            stats = outputs.setdefault(name, {**empty, "worst_input": None})
            max_abs, max_rel, passed = float(result.max_absdiff), float(result.max_reldiff), bool(result)
            worst_abs, worst_rel = _nan_as_inf(max_abs), _nan_as_inf(max_rel)
            if stats["worst_input"] is None or worst_abs > stats["max_abs"]:
                stats["worst_input"] = f"{item.label} (batch {item.batch})"
            stats["max_abs"], stats["max_rel"] = max(stats["max_abs"], worst_abs), max(stats["max_rel"], worst_rel)
            stats["failed_inputs"] += 0 if passed else 1
            row[name] = {"max_abs": max_abs, "max_rel": max_rel, "passed": passed}
        passed_all = all(r["passed"] for r in row.values())
        iterations.append({"input": item.label, "batch": item.batch, "passed": passed_all, "outputs": row})
    return {"outputs": outputs, "iterations": iterations}


def _detection_report(
    ref_outputs: list[dict[str, np.ndarray]],
    got_outputs: list[dict[str, np.ndarray]],
    inputs: list[VerifyInput],
    profile: Profile,
    export: ExportResult,
) -> dict[str, Any]:
    spec = profile.verify.detection
    thresholds = {"top_k": spec.top_k, "iou": spec.iou, "score_atol": spec.score_atol}
    thresholds["min_agreement"] = spec.min_agreement
    name = export.outputs[0].name
    if export.task != "detect":
        return _task_report(ref_outputs, got_outputs, inputs, profile, export, thresholds)
    rows = []
    for item, ref_out, got_out in zip(inputs, ref_outputs, got_outputs, strict=False):
        if not item.image:
            continue
        if export.nms == "external":
            ref_dets = decode_detections(ref_out[name], spec.top_k)
            got_dets = decode_detections(got_out[name], spec.top_k * CANDIDATE_POOL)
        else:  # the reference's raw head, selected by our code, against the artifact's own selection
            select = select_end2end if export.nms == "end2end" else decode_detections
            ref_dets = select(ref_out[RAW_KEY], spec.top_k)
            got_dets = final_detections(got_out[name], spec.top_k * CANDIDATE_POOL)
        reports = [match_detections(r, g, spec.iou, spec.score_atol) for r, g in zip(ref_dets, got_dets, strict=False)]
        rows.append(_worst_row(item, reports, spec.min_agreement))
    report = {"output": name, "thresholds": thresholds, "candidate_pool": CANDIDATE_POOL, "images": rows}
    if export.nms != "external":
        how = "select_end2end (Detect.postprocess's top-k)" if export.nms == "end2end" else "decode_detections"
        report["reference"] = f"FP32 ONNX Runtime raw head {export.head!r}, selected by {how}"
    return report


def _reference_head(onnx_path: Path, export: ExportResult, inputs: list[VerifyInput], scratch: Path) -> list[Any]:
    """The FP32 raw head (``export.head``, inside the exported graph) on each image input; None for the others."""
    import onnx
    import onnxruntime as ort

    from builder.yolo.nms_graph import exposing

    exposed = scratch / "verify-raw-head.onnx"
    onnx.save(exposing(onnx.load(str(onnx_path)), [str(export.head)]), str(exposed))
    session = ort.InferenceSession(str(exposed), providers=["CPUExecutionProvider"])
    try:
        return [
            session.run([str(export.head)], {export.input.name: item.array})[0] if item.image else None
            for item in inputs
        ]
    except Exception as err:  # onnxruntime's own exception types
        raise VerificationError(
            f"the FP32 reference's raw head {export.head!r} could not be computed: {err}",
            hint="rebuild from a fresh export; report the model if it persists",
        ) from err


def _task_report(
    ref_outputs: list[dict[str, np.ndarray]],
    got_outputs: list[dict[str, np.ndarray]],
    inputs: list[VerifyInput],
    profile: Profile,
    export: ExportResult,
    thresholds: dict[str, Any],
) -> dict[str, Any]:
    """The detection-level check's counterpart for segment, pose, obb and classify (builder/yolo/tasks): each image's
    results decoded as ultralytics' predictor does, the artifact's against the FP32 reference's; the rows have the
    detection rows' fields, so the same gate applies."""
    from builder.yolo.tasks import classify, obb, pose, segment

    spec, precision, nc = profile.verify.detection, profile.precision.value, len(export.names)
    names = [o.name for o in export.outputs]
    task_thresholds: dict[str, Any] = {
        "segment": {"mask_iou": segment.MASK_IOU[precision]},
        "pose": {"keypoint_oks": pose.MIN_OKS[precision]},
        "obb": {"rotated_iou": spec.iou},
        "classify": {
            "min_agreement": classify.MIN_TOP1_AGREEMENT[precision],
            "prob_atol": classify.PROB_ATOL[precision],
        },
    }[export.task]
    rows = []
    for item, ref_out, got_out in zip(inputs, ref_outputs, got_outputs, strict=False):
        if not item.image and export.task != "classify":  # random inputs: few instances to compare
            continue
        ref, got = [ref_out[n] for n in names], [got_out[n] for n in names]
        if export.task == "classify":
            compared = classify.compare(ref[0], got[0], precision)
            worst = next((i for i, r in enumerate(compared) if r["problem"]), 0)
            same = sum(r["problem"] is None for r in compared)
            agreement = same / len(compared)
            rows.append(
                {
                    "input": item.label,
                    "batch": item.batch,
                    "agreement": agreement,
                    "matched": same,
                    "total": len(compared),
                    "batch_index": worst,
                    "first_mismatch": compared[worst]["problem"],
                    "passed": agreement >= task_thresholds["min_agreement"],
                }
            )
            continue
        if export.task == "segment":
            reports = segment.compare(ref, got, nc, precision, spec.iou, spec.score_atol)
        elif export.task == "pose":
            nkpt = (ref[0].shape[1] - 4 - nc) // 3  # ultralytics exports keypoints as (x, y, visibility)
            reports = pose.compare(ref, got, nc, nkpt, 3, precision, spec.iou, spec.score_atol)
        else:
            reports = obb.compare(ref, got, nc, spec.iou, spec.score_atol)
        rows.append(_worst_row(item, reports, spec.min_agreement))
    decoded = "ultralytics' predictor decode (non_max_suppression conf 0.25, iou 0.7, one label per box"
    method = {
        "segment": f"{decoded}; masks by process_mask(upsample=True)), instances matched by class, box IoU, score, "
        "mask IoU",
        "pose": f"{decoded}), instances matched by class, box IoU, score, keypoint OKS (kpt_iou, sigma 1/nkpt)",
        "obb": f"{decoded}, rotated), instances matched by class, probiou, score",
        "classify": "top-1 class, top-5 set and probabilities of every input, random ones included",
    }[export.task]
    return {
        "outputs": names,
        "task": export.task,
        "method": method,
        "thresholds": {**thresholds, **task_thresholds},
        "images": rows,
    }


def _worst_row(item: VerifyInput, reports: list[Any], min_agreement: float) -> dict[str, Any]:
    """The report row of one input: its batch's worst image (agreement, counts, first disagreement)."""
    worst_index = min(range(len(reports)), key=lambda i: reports[i].agreement)
    worst = reports[worst_index]
    return {
        "input": item.label,
        "batch": item.batch,
        "agreement": worst.agreement,
        "matched": worst.matched,
        "total": worst.total,
        "batch_index": worst_index,
        "first_mismatch": worst.first_mismatch,
        "passed": worst.agreement >= min_agreement,
    }


def _raise_on_failure(details: dict[str, Any], model_path: Path) -> None:
    for name, stats in details["tensors"]["outputs"].items():
        if stats["failed_inputs"] and name not in details["tensors"].get("not_gating", {}):
            error = VerificationError(
                f"{model_path.name}: output {name!r} exceeds atol {stats['atol']:g} / rtol {stats['rtol']:g} "
                f"on {stats['failed_inputs']} of {details['inputs']} input(s); worst max abs error "
                f"{_fmt(stats['max_abs'])}, max rel error {_fmt(stats['max_rel'])} on {stats['worst_input']}",
                hint=f"if this precision loss is expected, raise verify.tolerances.{name} in the profile; "
                "otherwise rebuild at a higher precision",
            )
            error.details = details  # type: ignore[attr-defined]
            raise error
    for row in details["detections"]["images"]:
        if not row["passed"]:
            error = VerificationError(
                f"{model_path.name}: detections on {row['input']} (batch {row['batch']}, image "
                f"{row['batch_index']}) agree {row['agreement']:.1%} ({row['matched']}/{row['total']}), below "
                f"{details['detections']['thresholds']['min_agreement']:.1%}; "
                f"first disagreement: {row['first_mismatch']}",
                hint="check the precision and calibration; verify.detection thresholds are in the profile",
            )
            error.details = details  # type: ignore[attr-defined]
            raise error


def _summary(tensors: dict[str, Any], detections: dict[str, Any]) -> str:
    parts = [f"{n} max abs {_fmt(s['max_abs'])}" for n, s in tensors["outputs"].items()]
    if detections["images"]:
        parts.append(f"detection agreement >= {min(r['agreement'] for r in detections['images']):.1%}")
    return ", ".join(parts)


def _json_safe(value: Any) -> Any:
    """Non-finite floats (a NaN error from a broken artifact) as strings, so the manifest stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _nan_as_inf(value: float) -> float:
    return math.inf if math.isnan(value) else value


def _fmt(value: float | str) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

"""The task fixtures' profiles (cpu-fp32-segment, -pose, -obb, -classify), stage by stage on the real checkpoints:
the FP32 artifact passes task-level verification and the accuracy gate at the recorded metric, and a genuinely
degraded artifact (its convolution weights perturbed, as a broken build or a bad quantization would leave them)
fails both: the gate on the drop of the task's own metric, verification on the decoded instances or classes."""

from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from builder.pipeline.stage_types import StageContext
from builder.pipeline.stages import build as build_stage
from builder.pipeline.stages import evaluate as evaluate_stage
from builder.pipeline.stages import export as export_stage
from builder.pipeline.stages import verify as verify_stage
from builder.pipeline.stages.evaluate import AccuracyGateError
from builder.profile import Tolerance, load_profile
from tests.pipeline.stages.helpers import make_ctx, with_prior
from tests.support import REPO

TASKS = {  # task -> the fixture's record
    "segment": "shapes-yolo11n-seg.json",
    "pose": "shapes-yolo11n-pose.json",
    "obb": "shapes-yolo11n-obb.json",
    "classify": "shapes-yolo26n-cls.json",
}
GATED_KEY = {"segment": "map50_95", "pose": "map50_95", "obb": "map50_95", "classify": "top1"}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=sorted(TASKS))
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    """Export and ONNX Runtime build of the task's shipped profile (the real checkpoint, shipped split)."""
    profile = load_profile(f"cpu-fp32-{request.param}", REPO / "profiles")
    ctx = make_ctx(profile, tmp_path_factory.mktemp(request.param), models_dir=REPO / "models")
    exported = with_prior(ctx, export=export_stage.run(ctx))
    return with_prior(exported, build=build_stage.run(exported))


def _record(task: str) -> dict[str, Any]:
    record: dict[str, Any] = json.loads((REPO / "models" / "fixtures" / TASKS[task]).read_text())
    return record


def _perturbed(ctx: StageContext, scale: float, seed: int = 0) -> None:
    """The artifact (model.ort.onnx) with Gaussian noise, ``scale`` times each convolution weight's own spread."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    path = ctx.workdir / "model.ort.onnx"
    model = onnx.load(str(path))
    rng = np.random.default_rng(seed)
    for index, tensor in enumerate(model.graph.initializer):
        weights = numpy_helper.to_array(tensor)
        if weights.ndim == 4 and weights.dtype == np.float32:
            noisy = weights + rng.normal(0.0, scale * float(weights.std()), weights.shape).astype(np.float32)
            model.graph.initializer[index].CopyFrom(numpy_helper.from_array(noisy, tensor.name))
    onnx.save(model, str(path))


def _task(ctx: StageContext) -> str:
    return str(ctx.profile.task)


def test_the_fp32_artifact_passes_verification_and_scores_the_recorded_metric(built: StageContext) -> None:
    task = _task(built)
    verify = verify_stage.run(built).details["detections"]
    assert verify["task"] == task and verify["images"] and all(row["passed"] for row in verify["images"])
    assert all(row["agreement"] == 1.0 for row in verify["images"])
    details = evaluate_stage.run(built).details
    recorded = _record(task)["metrics"]["evaluate_cpu"][GATED_KEY[task]]
    assert details["task"] == task and details["passed"] == {"drop": True, "floor": True}
    assert details["artifact"][GATED_KEY[task]] == pytest.approx(recorded, abs=0.005)
    assert details["map50_95_drop"] == pytest.approx(0.0, abs=0.002)


def test_a_degraded_artifact_fails_the_accuracy_gate(built: StageContext, tmp_path: Path) -> None:
    task = _task(built)
    ctx = make_ctx(built.profile, tmp_path, models_dir=built.models_dir, **built.prior)
    for name in ("model.onnx", "model.ort.onnx"):
        (ctx.workdir / name).write_bytes((built.workdir / name).read_bytes())
    _perturbed(ctx, 0.3)
    with pytest.raises(AccuracyGateError) as caught:
        evaluate_stage.run(ctx)
    details = caught.value.details
    assert details["task"] == task and details["passed"]["drop"] is False
    assert details["map50_95_drop"] > 0.01
    assert f"model.ort.onnx: {details['metric']} " in str(caught.value)

    # nightly drift between the good build and this one names the task's own metric and its loss
    from builder.ops.drift import Severity
    from tests.ops.test_drift import _by_key, _pair, compare_manifests  # dict manifests through the typed reader

    good = evaluate_stage.run(built).details
    old, new = _pair()
    for manifest, evaluated in ((old, good), (new, details)):
        manifest["stages"].append({"name": "evaluate", "status": "ok", "details": evaluated})
    report = compare_manifests(old, new)
    change = _by_key(report)[f"evaluate.artifact.{GATED_KEY[task]}"]
    assert change.severity is Severity.DRIFT and change.reason.startswith(f"{details['metric']} worse by ")
    assert (change.old, change.new) == (good["artifact"][GATED_KEY[task]], details["artifact"][GATED_KEY[task]])
    assert not report.ok


def test_a_degraded_artifact_fails_task_level_verification(built: StageContext, tmp_path: Path) -> None:
    """Tensor tolerances opened wide, so the task-level check alone has to catch it."""
    verify = replace(built.profile.verify, tolerances={"default": Tolerance(atol=1e9, rtol=1e9)})
    ctx = make_ctx(replace(built.profile, verify=verify), tmp_path, models_dir=built.models_dir, **built.prior)
    for name in ("model.onnx", "model.ort.onnx"):
        (ctx.workdir / name).write_bytes((built.workdir / name).read_bytes())
    _perturbed(ctx, 0.3)
    with pytest.raises(verify_stage.VerificationError) as caught:
        verify_stage.run(ctx)
    assert "agree" in str(caught.value)


def test_each_task_is_described_for_its_users(built: StageContext) -> None:
    """metadata.json's decoding recipe, the Triton configuration (two outputs for segment) and the TensorRT engine
    header (ultralytics' ONNX metadata), which ultralytics 8.4.190's ``BaseBackend.apply_metadata`` (what its
    TensorRT backend calls on the header) turns into the task, names, imgsz and, for pose, kpt_shape."""
    import onnx
    from ultralytics.nn.backends.base import BaseBackend

    from builder.backends.tensorrt.engine_files import read_engine_bytes, ultralytics_engine_bytes, ultralytics_metadata
    from builder.ops.triton import triton_model_for
    from builder.yolo.sidecar import sidecar_metadata

    task = _task(built)
    export = built.prior["export"].output
    metadata = sidecar_metadata(built.profile, export, "model.ort.onnx")
    decoding = metadata["output_decoding"]
    expected = {"segment": 2, "pose": 1, "obb": 1, "classify": 1}[task]
    assert len(metadata["outputs"]) == expected and decoding["num_classes"] == 5 and decoding["how"]
    if task == "pose":
        assert decoding["keypoints"]["count"] == 5
    if task == "segment":
        assert decoding["mask_coefficients"] == 32 and metadata["outputs"][1]["shape"] == [1, 32, 64, 64]
    config = triton_model_for("onnxruntime", built.profile.name, metadata)
    assert config.config.count('name: "output') == expected
    if task == "segment":
        assert "dims: [ 1, 32, 64, 64 ]" in config.config or "dims: [1, 32, 64, 64]" in config.config

    onnx_meta = {p.key: p.value for p in onnx.load(str(built.workdir / "model.onnx")).metadata_props}
    engine = read_engine_bytes(ultralytics_engine_bytes(b"plan", ultralytics_metadata(onnx_meta, built.profile.name)))

    class HeaderOnly(BaseBackend):  # apply_metadata alone: no model to load or run
        def load_model(self, weight: Any) -> None: ...

        def forward(self, im: Any) -> Any: ...

    backend = HeaderOnly.__new__(HeaderOnly)
    backend.dynamic = False
    backend.apply_metadata(engine.metadata)
    assert engine.plan == b"plan" and backend.task == task  # type: ignore[attr-defined]
    assert backend.names == dict(enumerate(json.loads(json.dumps(list(export.names)))))  # type: ignore[attr-defined]
    assert backend.imgsz == list(built.profile.imgsz) and backend.end2end is False  # type: ignore[attr-defined]
    if task == "pose":
        assert backend.kpt_shape == [5, 3]  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", ["8.6.1.6", "10.3.0"])
def test_the_tensorrt_backend_builds_each_task_with_its_engine_header(
    built: StageContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    """The real TensorRT backend code on each task's exported ONNX, TensorRT itself replaced by the recording fake
    shaped like 8.6 and 10 (no GPU here): the plan is built and the ultralytics engine's header, read back by
    ultralytics 8.4.190's own ``engine_header``, names the task (and pose's kpt_shape)."""
    from ultralytics.nn.backends.base import BaseBackend

    import builder.backends.tensorrt as backend
    from builder.profile import OutputsSpec
    from tests.backends.tensorrt.test_trt_backend import build_ctx, trt_profile
    from tests.backends.tensorrt.trt_fakes import PLAN, install, make_fake_trt

    task = _task(built)
    install(monkeypatch, make_fake_trt(version))
    profile = trt_profile(task=task, imgsz=built.profile.imgsz, outputs=OutputsSpec(ultralytics_engine=True))
    ctx = build_ctx(tmp_path, built.workdir / "model.onnx", profile)
    result = backend.build(ctx, ctx.workdir / "model.onnx")
    assert result.artifact("model").path == "model.plan"
    offset, meta = BaseBackend.engine_header(ctx.workdir / "model.engine")
    assert (ctx.workdir / "model.engine").read_bytes()[offset:] == PLAN
    assert meta["task"] == task and meta["imgsz"] == str(list(built.profile.imgsz))
    assert ("kpt_shape" in meta) == (task == "pose")
    if task == "pose":
        assert meta["kpt_shape"] == "[5, 3]"


# --- `YOLO('artifacts/<profile>/latest/model.onnx').predict(image)` against the `.pt`, per task ---------------------
#
# Where ultralytics 8.4.190 needs torchvision on this path (read from its sources in .venv):
# - `AutoBackend.warmup` (ultralytics/nn/autobackend.py) runs `import torchvision` for every model without an
#   end-to-end head, whatever the device, only so that `non_max_suppression` picks `torchvision.ops.nms`; on the CPU
#   it does nothing else (the dummy forward runs only on a GPU or for triton/torchscript);
# - `non_max_suppression` (ultralytics/utils/nms.py) uses torchvision only when it is already imported
#   (`"torchvision" in sys.modules`), else its own pure-torch `TorchNMS.nms` ("matches torchvision behavior
#   exactly"; `TorchNMS.fast_nms` with `batch_probiou` for OBB in both cases);
# - `ClassificationPredictor.setup_source` (ultralytics/models/yolo/classify/predict.py) imports
#   `torchvision.transforms` and builds its preprocessing from it (`classify_transforms`): classify cannot predict
#   without torchvision at all.
# So the detection-like tasks predict here with the predictor's own `done_warmup` flag set (as ultralytics' YOLOE
# predictor does), through `predict(predictor=...)`: on the CPU that skips only the import. The plain call runs
# where torchvision imports.

PREDICT_IMAGES = 2


@functools.cache
def _torchvision_import_error() -> str | None:
    """Why `import torchvision` fails in this interpreter (its last line), or None when it imports. In a child
    process: a failed torchvision import leaves torch's operator registry half-written in the process that tried."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import torchvision"], capture_output=True, text=True, timeout=300)
    if done.returncode == 0:
        return None
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else f"exit {done.returncode}"


def _without_torchvision_reason(error: str) -> str:
    import importlib.metadata

    import torch

    return (
        f"torchvision {importlib.metadata.version('torchvision')} does not import beside torch {torch.__version__} "
        f"here ({error}); fix: install its CPU build, requirements/torchvision-cpu.txt (scripts/setup-env does where "
        "the CPU index is reachable)"
    )


def _predictor_without_warmup(yolo: Any) -> Any:
    """The task's own predictor class, its warm-up marked done (ultralytics' ``BasePredictor.done_warmup``)."""
    base = yolo.task_map[yolo.task]["predictor"]

    class Warm(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.done_warmup = True  # on the CPU, warmup only imports torchvision (see above)

    return Warm


def _results(result: Any, task: str) -> dict[str, Any]:
    """One ultralytics ``Results`` as builder/yolo/tasks/matching.py compares instances (classify: probabilities)."""
    if task == "classify":
        return {"probs": result.probs.data.numpy()}
    boxes = result.obb if task == "obb" else result.boxes
    found = {
        "boxes": (boxes.xywhr if task == "obb" else boxes.xyxy).numpy(),
        "conf": boxes.conf.numpy(),
        "cls": boxes.cls.numpy(),
    }
    if task == "segment":
        found["masks"] = result.masks.data.numpy().astype(bool) if result.masks is not None else []
    if task == "pose":
        found["keypoints"] = result.keypoints.data.numpy()
    return found


def _predict_both(built: StageContext, *, warmup: bool) -> list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """Per verify image: the .pt's results at conf 0.25, the model.onnx's at 0.25 - score_atol and 0.25 + score_atol
    (the verify stage's instance comparison, builder/yolo/tasks/matching.py)."""
    from ultralytics import YOLO

    from builder.record.weights import weights_fingerprint
    from builder.yolo.tasks.common import PREDICT_CONF

    profile, task = built.profile, _task(built)
    checkpoint = weights_fingerprint(profile.model, built.models_dir).path
    pt, artifact = YOLO(str(checkpoint), task=task), YOLO(str(built.workdir / "model.onnx"), task=task)
    atol = profile.verify.detection.score_atol
    rows = []
    for image in profile.verify.images[:PREDICT_IMAGES]:
        source = str(built.models_dir / image)

        def run(yolo: Any, conf: float, source: str = source) -> dict[str, Any]:
            extra = {} if warmup else {"predictor": _predictor_without_warmup(yolo)}
            imgsz = list(profile.imgsz)
            return _results(yolo.predict(source, imgsz=imgsz, conf=conf, verbose=False, **extra)[0], task)

        rows.append((run(pt, PREDICT_CONF), run(artifact, PREDICT_CONF - atol), run(artifact, PREDICT_CONF + atol)))
    return rows


def _assert_same_within_the_profile_tolerance(built: StageContext, rows: list[Any]) -> None:
    """The verify stage's thresholds of the profile (box IoU, score, min agreement; mask IoU, OKS, probabilities)."""
    from builder.yolo.tasks import classify, obb, pose, segment
    from builder.yolo.tasks.matching import axis_aligned_iou, compare_instances

    task, spec, precision = _task(built), built.profile.verify.detection, built.profile.precision.value
    if task == "classify":
        for ref, got, _ in rows:
            (compared,) = classify.compare(ref["probs"][None], got["probs"][None], precision)
            assert compared["problem"] is None, compared
        return
    assert sum(len(ref["cls"]) for ref, _, _ in rows) >= 2  # instances to compare, not two empty lists
    extra = None  # obb: the rotated box IoU (probiou) is the check
    if task == "segment":
        extra = segment.mask_check(precision)
    elif task == "pose":
        extra = pose.oks_check(_pose_nkpt(rows), 3, precision)
    reports = compare_instances(
        [r for r, _, _ in rows],
        [g for _, g, _ in rows],
        [c for _, _, c in rows],
        spec.iou,
        spec.score_atol,
        extra,
        box_iou=obb.probiou if task == "obb" else axis_aligned_iou,
    )
    for report in reports:
        assert report.agreement >= spec.min_agreement and report.matched == report.total, report.first_mismatch


def _pose_nkpt(rows: list[Any]) -> int:
    return int(next(r["keypoints"].shape[1] for r, _, _ in rows if "keypoints" in r))


def test_yolo_predict_on_the_artifact_matches_the_pt(built: StageContext) -> None:
    """ultralytics' own predictor on model.onnx and on the .pt: the same instances (or classes) within the profile's
    verify tolerances. Warm-up marked done, so torchvision is not needed where ultralytics has no use for it."""
    task = _task(built)
    error = _torchvision_import_error()
    if task == "classify" and error is not None:
        pytest.skip(
            "classify predict needs torchvision: ultralytics 8.4.190's ClassificationPredictor.setup_source imports "
            f"torchvision.transforms for its preprocessing; {_without_torchvision_reason(error)}"
        )
    _assert_same_within_the_profile_tolerance(built, _predict_both(built, warmup=False))


def test_the_plain_predict_call_on_the_artifact_matches_the_pt(built: StageContext) -> None:
    """`YOLO('.../model.onnx').predict(image)` exactly as a user types it (warm-up and all)."""
    error = _torchvision_import_error()
    if error is not None:
        pytest.skip(
            "YOLO(model.onnx).predict imports torchvision first: ultralytics 8.4.190's AutoBackend.warmup runs "
            f"`import torchvision` for every model without an end-to-end head; {_without_torchvision_reason(error)}"
        )
    _assert_same_within_the_profile_tolerance(built, _predict_both(built, warmup=True))

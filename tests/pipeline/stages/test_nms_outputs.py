"""outputs.nms embedded and end2end: final detections out of the graph, checked against the raw head selected by
our own code (verify), scored by evaluate, and read by ultralytics' YOLO("model.onnx") like the .pt."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from builder.errors import ModelError, VerificationError
from builder.pipeline.stage_types import BuildResult, ExportResult, StageContext
from builder.pipeline.stages import build as build_stage
from builder.pipeline.stages import evaluate as evaluate_stage
from builder.pipeline.stages import export as export_stage
from builder.pipeline.stages import verify as verify_stage
from builder.profile import ModelSpec, OutputsSpec
from builder.yolo.detections import (
    decode_detections,
    final_detections,
    match_detections,
    select_end2end,
)
from tests.pipeline.stages.helpers import make_ctx, with_prior
from tests.support import REPO, make_profile

SHAPES = ModelSpec(checkpoint="fixtures/shapes-yolo11n.pt")
YOLO26 = ModelSpec(yaml="yolo26n.yaml", seed=0)


def _built(root: Path, **overrides: Any) -> StageContext:
    ctx = make_ctx(make_profile(name="test-nms", **overrides), root)
    ctx = with_prior(ctx, export=export_stage.run(ctx))
    return with_prior(ctx, build=build_stage.run(ctx))


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    """The trained shapes fixture at 256 with embedded NMS, exported and built for ONNX Runtime."""
    root = tmp_path_factory.mktemp("embedded")
    profile = make_profile(name="test-nms", model=SHAPES, imgsz=(256, 256), outputs=OutputsSpec(nms="embedded"))
    ctx = make_ctx(profile, root, models_dir=REPO / "models")
    ctx = with_prior(ctx, export=export_stage.run(ctx))
    return with_prior(ctx, build=build_stage.run(ctx))


@pytest.fixture(scope="module")
def end2end(tmp_path_factory: pytest.TempPathFactory) -> StageContext:
    """YOLO26n (seed 0) at 64 through its NMS-free head, exported and built for ONNX Runtime."""
    return _built(tmp_path_factory.mktemp("end2end"), model=YOLO26, outputs=OutputsSpec(nms="end2end"))


def _run(path: Path, names: list[str], feed: np.ndarray) -> list[np.ndarray]:
    import onnx
    import onnxruntime as ort

    from builder.yolo.nms_graph import exposing

    exposed = path.with_name("exposed-" + path.name)
    onnx.save(exposing(onnx.load(str(path)), names), str(exposed))
    session = ort.InferenceSession(str(exposed), providers=["CPUExecutionProvider"])
    return list(session.run(names, {"images": feed}))


def _images(imgsz: tuple[int, int], count: int = 3) -> np.ndarray:
    from builder.yolo.preprocess import image_to_tensor, load_image

    paths = sorted((REPO / "models" / "fixtures" / "shapes" / "images" / "val").iterdir())[:count]
    return np.concatenate([image_to_tensor(load_image(p), imgsz) for p in paths])


def _same(a: Any, b: Any) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-4)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
    np.testing.assert_array_equal(a.classes, b.classes)


def test_select_end2end_is_ultralytics_postprocess() -> None:
    """Our numpy selection equals ultralytics' own Detect.postprocess (the end-to-end head's top-k)."""
    import torch
    from ultralytics.nn.modules.head import Detect

    head = Detect(nc=7, end2end=True, ch=(8, 16, 32)).eval()
    raw = torch.rand(2, 4 + 7, 500, generator=torch.Generator().manual_seed(0))
    raw[:, :2] *= 50
    raw[:, 2:4] = raw[:, :2] + 1 + raw[:, 2:4] * 50  # valid xyxy boxes
    theirs = head.postprocess(raw.permute(0, 2, 1)).numpy()  # (2, 300, 6)
    for ours, want in zip(select_end2end(raw.numpy(), 300), final_detections(theirs, 300), strict=True):
        assert len(ours) == len(want) == 300
        report = match_detections(want, ours, 0.9999, 1e-6)  # the same set; ties may be listed in either order
        assert report.agreement == 1.0, report.first_mismatch


def test_final_detections_drop_padding_and_sort() -> None:
    rows = np.zeros((1, 5, 6), np.float32)
    rows[0, 0] = [0, 0, 10, 10, 0.2, 3]
    rows[0, 1] = [5, 5, 20, 20, 0.9, 1]
    (dets,) = final_detections(rows, 10)
    assert dets.scores.tolist() == pytest.approx([0.9, 0.2]) and dets.classes.tolist() == [1, 3]


def test_embedded_graph_selects_what_decode_detections_selects(embedded: StageContext) -> None:
    """ONNX NonMaxSuppression in the graph == the verify stage's numpy decode + class-aware NMS, box for box."""
    export = embedded.handed(ExportResult)
    assert export is not None and export.nms == "embedded" and export.outputs[0].shape == (1, 300, 6)
    feed = _images((256, 256))
    for image in feed:
        raw, final = _run(embedded.path(export.onnx), [str(export.head), "output0"], image[None])
        assert final.shape == (1, 300, 6)
        _same(final_detections(final, 300)[0], decode_detections(raw, 300)[0])


@pytest.mark.parametrize("mode", ["embedded", "end2end"])
def test_verify_checks_final_detections_against_the_raw_head(
    mode: str, embedded: StageContext, end2end: StageContext
) -> None:
    ctx = embedded if mode == "embedded" else end2end
    details = verify_stage.run(ctx).details
    rows = details["detections"]["images"]
    assert rows and all(
        r["agreement"] == 1.0 and r["total"] == min(100, ctx.handed(ExportResult).outputs[0].shape[1]) for r in rows
    )  # type: ignore[union-attr]
    assert "raw head" in details["detections"]["reference"]
    assert set(details["tensors"]["not_gating"]) == {"output0"}


def test_verify_fails_a_wrong_embedded_nms(embedded: StageContext, tmp_path: Path) -> None:
    """A genuinely wrong selection (the graph's NMS at IoU 0.3, not the 0.7 the reference uses) is caught."""
    import onnx
    from onnx import numpy_helper

    build = tmp_path / "build"
    shutil.copytree(embedded.workdir, build)
    build_result = embedded.handed(BuildResult)
    assert build_result is not None
    model = onnx.load(str(build / "model.onnx"))
    (iou,) = [init for init in model.graph.initializer if init.name == "efnms/iou"]
    iou.CopyFrom(numpy_helper.from_array(np.array([0.3], np.float32), "efnms/iou"))
    onnx.save(model, str(build / build_result.model.path))
    with pytest.raises(VerificationError, match="detections on image") as info:
        verify_stage.run(replace(embedded, workdir=build))
    assert "agree" in info.value.message


def test_end2end_is_refused_for_a_model_without_the_head(tmp_path: Path) -> None:
    ctx = make_ctx(make_profile(outputs=OutputsSpec(nms="end2end")), tmp_path)
    with pytest.raises(ModelError, match="has no NMS-free"):
        export_stage.run(ctx)


@pytest.mark.slow
def test_evaluate_scores_embedded_detections_like_the_raw_head(embedded: StageContext) -> None:
    """The mAP of the embedded-NMS model is the raw head's, within the single- vs multi-label NMS difference."""
    from builder.profile import AccuracySpec
    from builder.yolo.dataset import load_split
    from builder.yolo.evaluation import score_split

    export = embedded.handed(ExportResult)
    assert export is not None
    spec = AccuracySpec(data="fixtures/shapes/data.yaml", samples=20)
    split = load_split(embedded.models_dir, spec.data, spec.split, spec.samples)
    raw = score_split(lambda x: _run(embedded.path(export.onnx), [str(export.head)], x)[0], split, (256, 256))
    details = evaluate_stage.run(replace(embedded, profile=replace(embedded.profile, accuracy=spec))).details
    assert details["artifact"]["map50_95"] > 0.85 and "outputs.nms embedded" in details["method"]
    assert abs(details["artifact"]["map50_95"] - raw.map50_95) <= 0.01


def _predicted(results: Any) -> Any:
    from builder.yolo.detections import Detections

    data = results[0].boxes.data.numpy()
    return Detections(data[:, :4], data[:, 4], data[:, 5].astype(np.int64))


def test_yolo_predict_on_the_embedded_onnx_matches_the_pt(embedded: StageContext) -> None:
    """The user's plain call on the embedded-NMS ONNX (ultralytics reads its ``args.nms`` metadata as end-to-end, so
    nothing imports torchvision); the raw ``.pt`` through its own predictor with the warm-up marked done, the one step
    that imports torchvision for a raw head (tests/fixture_trainer/test_task_gates.py says where and why)."""
    from ultralytics import YOLO

    from tests.fixture_trainer.test_task_gates import _predictor_without_warmup

    image = str(sorted((REPO / "models" / "fixtures" / "shapes" / "images" / "val").iterdir())[0])
    onnx_path = embedded.path(embedded.handed(ExportResult).onnx)  # type: ignore[union-attr]
    got = _predicted(YOLO(str(onnx_path), task="detect").predict(image, imgsz=256, verbose=False))
    pt = YOLO(str(REPO / "models" / SHAPES.checkpoint))
    want = _predicted(pt.predict(image, imgsz=256, verbose=False, predictor=_predictor_without_warmup(pt)))
    assert len(want) >= 3
    report = match_detections(want, got, 0.99, 1e-3)
    assert report.agreement == 1.0 and len(got) == len(want), report.first_mismatch


def test_yolo_predict_on_the_end2end_onnx_matches_the_model(end2end: StageContext) -> None:
    """The same seeded YOLO26n in PyTorch (its end-to-end head, nms=False) and the exported ONNX, conf 0."""
    import torch
    from ultralytics import YOLO

    torch.manual_seed(0)
    model = YOLO("yolo26n.yaml")
    image = str(sorted((REPO / "models" / "fixtures" / "shapes" / "images" / "val").iterdir())[0])
    onnx_path = end2end.path(end2end.handed(ExportResult).onnx)  # type: ignore[union-attr]
    got = _predicted(YOLO(str(onnx_path), task="detect").predict(image, imgsz=64, conf=0.0, verbose=False))
    want = _predicted(model.predict(image, imgsz=64, conf=0.0, nms=False, verbose=False))
    assert len(want) == len(got) > 0
    report = match_detections(
        replace(want, **{f: getattr(want, f)[:40] for f in ("boxes", "scores", "classes")}), got, 0.99, 1e-3
    )
    assert report.agreement == 1.0, report.first_mismatch


def test_sidecar_triton_and_ops_doc_declare_final_detections(embedded: StageContext) -> None:
    """The real build's metadata.json: Triton declares output0 as (1, 300, 6), OPS.md says how to read it."""
    import json

    from builder.ops.opsdoc import _decoding
    from builder.ops.triton import triton_model
    from builder.record.manifest_read import read_manifest
    from tests.ops.fakes import synthetic_manifest

    metadata = json.loads((embedded.workdir / "metadata.json").read_text())
    assert metadata["output_decoding"]["format"] == "final_detections"
    assert metadata["output_decoding"]["nms"] == "embedded"
    config = triton_model(read_manifest(synthetic_manifest("test-nms")), metadata).config
    assert "dims: [ 1, 300, 6 ]" in config and config.count("TYPE_FP32") == 2
    text = "\n".join(_decoding(metadata))
    assert "Final detections (NMS inside the model)" in text and "no NMS to run" in text
    assert "x1, y1, x2, y2" in text and "Classes: 0:" in text


@pytest.mark.slow  # its own dynamic-batch export and build
def test_embedded_nms_with_a_dynamic_batch(tmp_path: Path) -> None:
    """One NonMaxSuppression serves every batch size (no per-image loop unrolled at export, unlike nms=True)."""
    from builder.ops.triton import triton_model
    from builder.profile import BatchSpec
    from builder.record.manifest_read import read_manifest
    from tests.ops.fakes import synthetic_manifest

    ctx = _built(tmp_path, outputs=OutputsSpec(nms="embedded"), batch=BatchSpec(1, 2, 3))
    export = ctx.handed(ExportResult)
    assert export is not None and export.outputs[0].shape == (-1, 84, 6)  # 84 anchors at 64x64: max_det 84
    details = verify_stage.run(ctx).details
    assert {r["batch"] for r in details["detections"]["images"]} == {1, 2, 3}
    assert all(r["agreement"] == 1.0 for r in details["detections"]["images"])
    import json

    metadata = json.loads((ctx.workdir / "metadata.json").read_text())
    config = triton_model(read_manifest(synthetic_manifest("test-nms")), metadata).config
    assert "max_batch_size: 3" in config and "dims: [ 84, 6 ]" in config

"""Stage ``export``: ultralytics model -> checked, byte-reproducible ``model.onnx``.

Reproducibility: the same weights, profile and package versions give the same
bytes. Two things in ultralytics' file vary between runs and are removed:

- the ``date`` entry of ``metadata_props`` (the export time; we record it in
  the stage details as ``exported_at`` instead);
- ``graph.value_info``, the optional intermediate shape hints that onnxslim's
  symbolic shape inference names differently depending on Python's hash seed
  (with dynamic shapes). Runtimes infer these shapes themselves.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.common.env_guard import preserved_environment
from builder.common.hashing import sha256_file
from builder.common.nonfinite import refuse_nonfinite_outputs, refuse_nonfinite_weights
from builder.errors import ExportError, ModelError, first_line
from builder.pipeline.stage_types import ArtifactOut, ExportResult, StageContext, StageResult, TensorSpec
from builder.profile import Profile
from builder.record.weights import WeightsFingerprint, weights_fingerprint
from builder.yolo import checkpoint_transforms, nms_graph
from builder.yolo.shapes import input_shape

NAME = "export"
ONNX_NAME = "model.onnx"
DROPPED_METADATA = ("date",)  # changes on every export
STRIPPED = ["metadata_props.date", "graph.value_info"]
CHECK_ATOL = 1e-3  # PyTorch (unfused) vs ONNX Runtime (fused), both FP32: |a - b| <= atol + rtol * |a|
CHECK_RTOL = 1e-3


@dataclass(frozen=True)
class ExportInfo:
    """The exported file, its manifest details and the facts later stages read (see :class:`ExportResult`)."""

    path: Path
    details: dict[str, Any]
    input: TensorSpec
    outputs: tuple[TensorSpec, ...]
    names: tuple[str, ...]
    stride: int
    task: str
    head: str | None = None  # embedded / end2end: the raw head tensor inside the graph


def run(ctx: StageContext) -> StageResult:
    """Export the profile's model to ``model.onnx`` in the build folder."""
    info = onnx_from_checkpoint(ctx.profile, ctx.models_dir, ctx.workdir / ONNX_NAME, ctx.log, scratch=ctx.scratch)
    onnx = ArtifactOut(ONNX_NAME, "onnx")
    handed = ExportResult(
        onnx, info.input, info.outputs, info.names, info.stride, info.task, ctx.profile.outputs.nms, info.head
    )
    inputs = {"onnx": {"path": ONNX_NAME, "sha256": info.details["onnx_sha256"]}}
    return StageResult(details=info.details, artifacts=(onnx,), inputs=inputs, output=handed)


def onnx_from_checkpoint(
    profile: Profile, models_dir: Path, out_path: Path, log: Callable[[str], None], *, scratch: Path | None = None
) -> ExportInfo:
    """Load the weights, export with ultralytics, strip the timestamp, check, compare with PyTorch.

    Args:
        profile: the resolved profile (model, imgsz, opset, batch, simplify).
        models_dir: folder holding checkpoints (read only).
        out_path: where the ONNX file goes.
        log: progress printer.
        scratch: folder for ultralytics' intermediate files (a temporary one when None).

    Raises:
        ModelError: the checkpoint is missing, fails its sha256 pin, or is not a YOLO checkpoint.
        ExportError: ultralytics cannot export, the ONNX is invalid, or it disagrees with PyTorch.
    """
    fingerprint = weights_fingerprint(profile.model, models_dir)
    log(f"export: loading {fingerprint.identity} (sha256 {fingerprint.sha256[:12]})")
    with tempfile.TemporaryDirectory(dir=scratch, prefix="export-") as tmp, preserved_environment():
        yolo, dropped = _load_yolo(profile, fingerprint, Path(tmp))
        if dropped:
            log(f"export: left out the checkpoint's torchvision transforms ({', '.join(dropped)}); see details")
        started = time.time()
        raw = _ultralytics_export(yolo, profile, Path(tmp), log)
        exported_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
        model_proto = _reproducible_onnx(raw, profile)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        import onnx

        head = _head_output(model_proto, profile)
        checked = Path(tmp) / "checked.onnx"  # the raw head exposed: what PyTorch is compared with
        onnx.save(model_proto if head is None else nms_graph.exposing(model_proto, [head]), str(checked))
        log(f"export: comparing PyTorch and ONNX Runtime outputs{'' if head is None else f' (raw head {head})'}")
        check = _check_against_pytorch(yolo.model, checked, profile, head)
        shapes = check.pop("shapes_at_imgsz")
        if profile.outputs.nms == "embedded":
            model_proto = _embedded(model_proto, shapes, profile)
            head = nms_graph.HEAD_OUTPUT
        onnx.save(model_proto, str(out_path))
        log(f"export: wrote {out_path.name}" + ("" if head is None else f" (outputs.nms: {profile.outputs.nms})"))
    if head is not None:
        shapes = _final_shapes(model_proto, shapes, profile)
    described = _describe_onnx(model_proto)
    names, stride = _class_names(yolo.model), int(max(yolo.model.stride))
    details = {
        **described,
        "names": names,
        "stride": stride,
        "task": yolo.task,
        "imgsz": list(profile.imgsz),
        "batch": {"min": profile.batch.min, "opt": profile.batch.opt, "max": profile.batch.max},
        "dynamic_batch": profile.dynamic,
        "simplify": profile.simplify,
        "versions": _versions(),
        "weights": {"identity": fingerprint.identity, "sha256": fingerprint.sha256},
        "export_check": check,
        "shapes_at_imgsz": shapes,
        "exported_at": exported_at,
        "stripped": STRIPPED,
        "onnx_sha256": sha256_file(out_path),
        "nms": _nms_details(profile, head),
    }
    if dropped:
        details["checkpoint_transforms"] = {"dropped": dropped, "why": checkpoint_transforms.WHY}
    outputs = tuple(_at_imgsz(v, shapes) for v in described["outputs"])
    return ExportInfo(
        out_path, details, _at_imgsz(described["input"], shapes), outputs, tuple(names), stride, yolo.task, head
    )


def _at_imgsz(value: dict[str, Any], shapes: dict[str, list[int]]) -> TensorSpec:
    """An input or output of :func:`_describe_onnx` with its shape at the profile's image size (-1: dynamic batch)."""
    return TensorSpec(value["name"], tuple(shapes.get(value["name"], value["shape"])), value["dtype"])


def _quiet_ultralytics_env() -> None:
    os.environ["YOLO_AUTOINSTALL"] = "false"  # never pip-install at build time
    os.environ.setdefault("YOLO_OFFLINE", "1")
    # Checkpoints are untrusted: unpickle only allow-listed classes (torch weights_only), never run their code.
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "1"


def _load_yolo(profile: Profile, fingerprint: WeightsFingerprint, scratch: Path) -> tuple[Any, list[str] | None]:
    """The model, and the torchvision transforms left out of a classify checkpoint's copy in ``scratch`` (None when
    it had none; :mod:`builder.yolo.checkpoint_transforms`). The user's file is only read."""
    _quiet_ultralytics_env()
    import torch
    import ultralytics.nn.tasks as tasks
    import ultralytics.utils.checks as checks
    from ultralytics import YOLO

    checks.AUTOINSTALL = False  # in case ultralytics was imported before the environment was set
    tasks.SAFE_LOAD = True  # likewise: ultralytics reads ULTRALYTICS_SAFE_LOAD once, at import

    spec = profile.model
    dropped = None
    if fingerprint.path is None:
        torch.manual_seed(spec.seed)
        try:
            yolo = YOLO(str(spec.yaml))
        except Exception as err:  # ultralytics raises many types for a bad name
            raise ModelError(
                f"model yaml {spec.yaml!r} could not be built: {first_line(err)}",
                hint="use a model YAML that ultralytics ships, e.g. yolo11n.yaml",
            ) from err
    else:
        try:
            copy = scratch / "checkpoint-without-transforms.pt"
            dropped = checkpoint_transforms.without_torchvision_transforms(fingerprint.path, copy)
            yolo = YOLO(str(fingerprint.path if dropped is None else copy), task=profile.task)
        except Exception as err:  # a damaged or foreign file raises anything from pickle to KeyError
            raise ModelError(
                f"{fingerprint.path} is not a YOLO checkpoint: {first_line(err)}",
                hint="point model.checkpoint at a .pt saved by ultralytics (model.save() or training)",
            ) from err
    refuse_nonfinite_weights(yolo.model, str(fingerprint.path or spec.yaml))  # not "try another opset" later
    if profile.outputs.nms == "end2end" and getattr(_detect_head(yolo.model), "one2one_cv2", None) is None:
        raise ModelError(
            f"{fingerprint.identity} has no NMS-free (end-to-end) head, which outputs.nms: end2end needs",
            hint="use outputs.nms: embedded (NMS inside the graph) for this model, or a YOLO26 model for end2end",
        )
    if yolo.task != profile.task:
        raise ModelError(
            f"{fingerprint.identity} is a {yolo.task!r} model, but the profile's task is {profile.task!r}",
            hint=f"set task: {yolo.task} in the profile, or use a {profile.task} model",
        )
    return yolo, dropped


def _ultralytics_export(yolo: Any, profile: Profile, folder: Path, log: Callable[[str], None]) -> Path:
    # ultralytics writes next to model.pt_path (or into the working folder for a YAML): point it at scratch.
    yolo.model.pt_path = str(folder / "model.pt")
    stride = int(max(yolo.model.stride))
    if any(side % stride for side in profile.imgsz):
        raise ExportError(  # ultralytics would silently round it up
            f"imgsz {list(profile.imgsz)} is not a multiple of the model's stride {stride}",
            hint=f"use multiples of {stride}, e.g. {[-(-side // stride) * stride for side in profile.imgsz]}",
        )
    batch = profile.batch.max if profile.dynamic else profile.batch.opt
    log(f"export: ultralytics -> ONNX opset {profile.opset}, imgsz {list(profile.imgsz)}, batch {batch}")
    try:
        exported = yolo.export(
            format="onnx",
            imgsz=list(profile.imgsz),
            opset=profile.opset,
            dynamic=profile.dynamic,
            batch=batch,
            simplify=profile.simplify,
            nms=False if profile.outputs.nms == "end2end" else None,  # embedded: appended by us (nms_graph)
            device="cpu",
            verbose=False,
        )
    except Exception as err:
        raise ExportError(
            f"ultralytics could not export {profile.model.identity} to ONNX (opset {profile.opset}): {first_line(err)}",
            hint="check opset (ultralytics needs 9 or more, at most what the installed onnx supports), "
            "imgsz (a multiple of the stride, 32) and the model",
        ) from err
    path = Path(exported) if exported else folder / "model.onnx"
    if not path.is_file():
        raise ExportError(f"ultralytics reported no ONNX file in {folder}", hint="rerun with a fresh scratch folder")
    return path


def _detect_head(model: Any) -> Any:
    """The model's last module (the Detect head of a detect model)."""
    return model.model[-1]


def _head_output(model: Any, profile: Profile) -> str | None:
    """end2end: the raw one-to-one head inside ultralytics' end-to-end graph (what PyTorch and verify compare)."""
    if profile.outputs.nms != "end2end":
        return None
    try:
        return nms_graph.end2end_head(model)
    except ValueError as err:
        raise ExportError(
            f"the end-to-end export of {profile.model.identity} has no raw head to verify against: {err}",
            hint="report the model; outputs.nms: embedded verifies the same way and needs no end-to-end head",
        ) from err


def _embedded(model: Any, shapes: dict[str, list[int]], profile: Profile) -> Any:
    """The raw export with ONNX NonMaxSuppression appended (:func:`builder.yolo.nms_graph.embed_nms`)."""
    anchors = shapes[model.graph.output[0].name][2]
    try:
        return nms_graph.embed_nms(model, anchors)
    except Exception as err:  # a head of another shape, or onnx.checker's verdict on the result
        raise ExportError(
            f"could not append NMS to the export of {profile.model.identity}: {first_line(err)}",
            hint="outputs.nms: embedded needs a detect model's raw output (batch, 4 + classes, anchors)",
        ) from err


def _final_shapes(model: Any, shapes: dict[str, list[int]], profile: Profile) -> dict[str, list[int]]:
    """Shapes at imgsz with the final-detections output (batch, max_det, 6) in place of the raw head's."""
    batch = -1 if profile.dynamic else profile.batch.opt
    final = {}
    for output in model.graph.output:
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in output.type.tensor_type.shape.dim]
        final[output.name] = [batch, *dims[1:]]
    input_name = model.graph.input[0].name
    return {input_name: shapes[input_name], **final}


def _nms_details(profile: Profile, head: str | None) -> dict[str, Any]:
    mode = profile.outputs.nms
    if mode == "external":
        return {"mode": mode}
    how = (
        "ultralytics nms=False export: the one-to-one head's top max_det (Detect.postprocess), no NMS"
        if mode == "end2end"
        else "ONNX NonMaxSuppression appended to the raw export: best class per anchor, class-aware NMS at IoU "
        f"{nms_graph.NMS_IOU}, top {nms_graph.MAX_DET} (builder/yolo/nms_graph.py)"
    )
    return {"mode": mode, "head": head, "max_det": nms_graph.MAX_DET, "how": how}


def _reproducible_onnx(path: Path, profile: Profile) -> Any:
    import onnx

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key not in DROPPED_METADATA]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    del model.graph.value_info[:]  # optional shape hints; their symbolic names vary with the hash seed
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as err:
        raise ExportError(
            f"exported ONNX failed onnx.checker: {first_line(err)}",
            hint=f"try another opset than {profile.opset}, or simplify: {not profile.simplify}",
        ) from err
    return model


def _describe_onnx(model: Any) -> dict[str, Any]:
    inputs = [_value_info(v) for v in model.graph.input]
    if len(inputs) != 1:
        raise ExportError(f"expected one ONNX input, found {len(inputs)}", hint="export a standard YOLO model")
    return {
        "opset": next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")),
        "ir_version": model.ir_version,
        "input": inputs[0],
        "outputs": [_value_info(v) for v in model.graph.output],
    }


def _value_info(value: Any) -> dict[str, Any]:
    from onnx.helper import tensor_dtype_to_np_dtype

    tensor = value.type.tensor_type
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or -1) for d in tensor.shape.dim]
    return {"name": value.name, "shape": shape, "dtype": str(tensor_dtype_to_np_dtype(tensor.elem_type))}


def _class_names(model: Any) -> list[str]:
    names = model.names
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names)]
    return [str(n) for n in names]


def _versions() -> dict[str, str]:
    import onnx
    import torch
    import ultralytics

    return {"ultralytics": ultralytics.__version__, "torch": torch.__version__, "onnx": onnx.__version__}


def _check_against_pytorch(model: Any, onnx_path: Path, profile: Profile, head: str | None = None) -> dict[str, Any]:
    """Run PyTorch and ONNX Runtime on the same seeded inputs (batch min and max, or the static batch).

    ``head``: compare only this ONNX tensor, the raw one-to-one head of an end-to-end export, with PyTorch's.
    """
    import numpy as np
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    names = [head] if head is not None else [o.name for o in session.get_outputs()]
    reference = _pytorch_reference(model, end2end_head=head is not None)
    rng = np.random.default_rng(profile.verify.seed)
    batches = sorted({profile.batch.min, profile.batch.max}) if profile.dynamic else [profile.batch.opt]
    outputs: dict[str, dict[str, Any]] = {}
    for name in names:
        outputs[name] = {"max_abs": 0.0, "max_rel": 0.0, "nonfinite": 0, "passed": True, "worst_batch": None}
    shapes: dict[str, list[int]] = {}
    for batch in batches:
        feed = rng.random(input_shape(profile, batch), dtype=np.float32)
        expected = reference(feed)
        refuse_nonfinite_outputs(expected, profile.model.identity, batch)
        try:
            got = session.run(names, {input_name: feed})
        except Exception as err:  # onnxruntime's own exception types
            raise ExportError(
                f"ONNX Runtime cannot run the exported model at batch {batch}: {first_line(err)}",
                hint="check batch and imgsz in the profile",
            ) from err
        if len(expected) != len(got):
            raise ExportError(
                f"ONNX has {len(got)} output(s) but PyTorch returns {len(expected)}",
                hint="export a standard YOLO model",
            )
        for name, want, have in zip(names, expected, got, strict=False):
            if want.shape != have.shape:
                raise ExportError(
                    f"output {name!r} has shape {list(have.shape)} in ONNX but {list(want.shape)} in PyTorch "
                    f"(batch {batch})",
                    hint="check batch and imgsz in the profile",
                )
            _accumulate(outputs[name], want, have, batch)
            shapes.setdefault(name, [-1 if profile.dynamic else batch, *have.shape[1:]])
    shapes = {input_name: list(input_shape(profile, -1 if profile.dynamic else profile.batch.opt)), **shapes}
    for name, stats in outputs.items():
        if not stats["passed"]:
            raise ExportError(
                f"output {name!r} differs between PyTorch and ONNX Runtime: max abs error {stats['max_abs']:.3g}, "
                f"max rel error {stats['max_rel']:.3g}, {stats['nonfinite']} non-finite value(s) "
                f"(batch {stats['worst_batch']}; allowed {CHECK_ATOL} + {CHECK_RTOL}*|x|)",
                hint="try another opset or simplify: false; report the model if it persists",
            )
    return {
        "atol": CHECK_ATOL,
        "rtol": CHECK_RTOL,
        "seed": profile.verify.seed,
        "batches": batches,
        "outputs": outputs,
        "shapes_at_imgsz": shapes,
    }


def _pytorch_reference(model: Any, *, end2end_head: bool = False) -> Callable[[Any], list[Any]]:
    """An FP32 eval copy whose heads return exactly the exported outputs (export mode, no end-to-end head).

    ``end2end_head``: the end-to-end head's raw one-to-one output (B, 4 + nc, A) instead, before its top-k.
    """
    import copy

    import torch
    from ultralytics.nn.modules.head import Classify, Detect

    net = copy.deepcopy(model).float().eval()
    if hasattr(net, "end2end"):
        net.end2end = end2end_head  # without nms, ultralytics' ONNX export turns the end-to-end branch off
    for module in net.modules():
        if isinstance(module, Detect):
            module.export = True
            module.format = "onnx"  # type: ignore[assignment]
            module.shape = None
            if end2end_head:  # Detect.forward calls postprocess(y.permute(0, 2, 1)): hand y back unpicked
                module.postprocess = lambda preds: preds.permute(0, 2, 1)  # type: ignore[method-assign]
        elif isinstance(module, Classify):
            module.export = True  # probabilities only, as exported (in eval it also returns the logits)

    def infer(feed: Any) -> list[Any]:
        with torch.no_grad():
            result = net(torch.from_numpy(feed))
        tensors = [result] if isinstance(result, torch.Tensor) else [t for t in result if isinstance(t, torch.Tensor)]
        return [t.numpy() for t in tensors]

    return infer


def _accumulate(stats: dict[str, Any], want: Any, have: Any, batch: int) -> None:
    import numpy as np

    want64, have64 = want.astype(np.float64), have.astype(np.float64)
    finite = np.isfinite(have64)
    diff = np.where(finite, np.abs(want64 - have64), 0.0)
    scale = np.abs(want64)
    rel = diff / np.maximum(scale, np.finfo(np.float32).tiny)
    max_abs = float(diff.max(initial=0.0))
    if stats["worst_batch"] is None or max_abs > stats["max_abs"] or not finite.all():
        stats["worst_batch"] = batch
    stats["max_abs"] = max(stats["max_abs"], max_abs)
    stats["max_rel"] = max(stats["max_rel"], float(rel.max(initial=0.0)))
    stats["nonfinite"] += int((~finite).sum())
    stats["passed"] = stats["passed"] and bool(finite.all() and np.all(diff <= CHECK_ATOL + CHECK_RTOL * scale))

"""``OPS.md``: how to deploy one build, generated from its manifest and ``metadata.json``.

Deterministic (no timestamps but the build's own), so two bundles of the same
build carry the same text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from builder.backends.catalog import find_backend, needs_gpu
from builder.ops.triton import TritonModel
from builder.ops.triton_release import (
    PREDICT_CONF,
    PREDICT_NMS_IOU,
    SOURCES,
    VERSION_COMPATIBLE_FLAG,
    VERSION_COMPATIBLE_SINCE,
    triton_serving,
)
from builder.record.manifest_read import ManifestView
from builder.verify.checks import verify_setup
from builder.verify.compat import HostRequirements, requirements_from_manifest


def render_ops_doc(
    manifest: ManifestView,
    metadata: Mapping[str, Any],
    triton: TritonModel,
    files: Sequence[tuple[str, int, str]],
    *,
    build_folder: str = "build",
    triton_folder: str = "triton",
) -> str:
    """The Markdown text of ``OPS.md``.

    Args:
        manifest: the build's manifest.
        metadata: the build's ``metadata.json``.
        triton: the generated Triton model.
        files: ``(path, size, sha256)`` of the other files in the bundle, relative to its top folder.
        build_folder: where the build's files lie in the bundle.
        triton_folder: where the Triton repository lies in the bundle.
    """
    resolved = manifest.profile.resolved
    model = manifest.model
    out: list[str] = [f"# Deploying {manifest.profile.name} (build {manifest.build_id})", ""]
    out += [
        "Generated from the build's manifest by Engine Foundry; "
        "regenerate with `.venv/bin/engine-foundry bundle`, do not edit.",
        "",
    ]
    out += _table(
        ["", ""],
        [
            ["profile", f"{manifest.profile.name}: {resolved.description or ''}"],
            ["model file", f"`{build_folder}/{model.path if model else '?'}`: {_backend_title(resolved.backend)}"],
            ["precision", resolved.precision or "?"],
            [
                "task",
                f"{metadata.get('task', resolved.task or '?')}, {len(_class_names(metadata.get('names')))} classes",
            ],
            [
                "built",
                f"{manifest.finished_or_created} by Engine Foundry {manifest.builder_version}",
            ],
            ["build key", f"`{manifest.build_key}`"],
        ],
    )
    out += ["", "## Inputs", ""] + _tensor_table(metadata.get("inputs") or []) + ["", _batch_line(metadata)]
    out += ["", "## Preprocessing", ""] + _preprocessing(metadata)
    out += ["", "## Outputs", ""] + _tensor_table(metadata.get("outputs") or []) + [""] + _decoding(metadata)
    out += ["", "## What the target host needs", ""] + _host_needs(requirements_from_manifest(manifest), manifest)
    out += ["", "## Checked at build time", ""] + _build_checks(manifest)
    out += ["", "## Triton Inference Server", ""] + _triton(triton, triton_folder, manifest)
    out += ["", "## Checking this bundle", ""]
    out += [
        "- `sha256sum -c SHA256SUMS` in the bundle folder checks every file; "
        f"`{build_folder}/SHA256SUMS` and `{build_folder}/manifest.json` are the build's own records.",
        "- `verify` checks the checksums, says GO / NO-GO for this host "
        "(GPU, compute capability, TensorRT, driver) and runs one inference where the runtime is installed; "
        "it gives the same answer for `<bundle>.tar.gz` and for the folder `tar -xzf` makes of it.",
        f"- {verify_setup(resolved.backend, manifest.environment.image.name, '<bundle>.tar.gz')}",
        "- On a build node with the models folder, `.venv/bin/engine-foundry reproduce <bundle>.tar.gz` rebuilds it "
        "from its recorded inputs (profile, weights digest, image identity) and says REPRODUCED, EQUIVALENT (a "
        'TensorRT plan) or DIFFERS (exit 5), naming each difference (docs/ops.md, "Reproduce a build").',
        "- A signed bundle holds `model.sig` (made with `make bundle ... SIGN_KEY=...`): "
        "`.venv/bin/engine-foundry verify --trusted-key <the signer's public key> <bundle>.tar.gz` also requires that "
        "signature over every file and a `provenance.intoto.json` that agrees with the manifest; anything else is "
        'NO-GO, exit 5 (docs/ops.md, "Signing and provenance").',
        "",
        "## Files",
        "",
    ]
    out += _table(["path", "bytes", "sha256"], [[f"`{p}`", str(size), f"`{digest}`"] for p, size, digest in files])
    return "\n".join(out) + "\n"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def _tensor_table(tensors: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [
        [
            f"`{t.get('name')}`",
            "[" + ", ".join("batch" if d == -1 else str(d) for d in t.get("shape") or []) + "]",
            str(t.get("dtype")),
        ]
        for t in tensors
    ]
    return _table(["name", "shape", "dtype"], rows)


def _batch_line(metadata: Mapping[str, Any]) -> str:
    batch = metadata.get("batch") or {}
    low, opt, high = batch.get("min", 1), batch.get("opt", 1), batch.get("max", 1)
    if low == opt == high:
        return f"Static batch of {low}: every request must carry exactly {low} image(s)."
    return f"Dynamic batch: {low} to {high} images per call (tuned for {opt}); fewer than {low} is rejected."


def _preprocessing(metadata: Mapping[str, Any]) -> list[str]:
    pre = metadata.get("preprocessing") or {}
    if "center_crop" in pre:  # classify (builder/yolo/sidecar.py classify_preprocessing)
        return _classify_preprocessing(metadata, pre)
    box = pre.get("letterbox") or {}
    height, width = (metadata.get("imgsz") or ["?", "?"])[:2]
    scale = pre.get("scale", 1 / 255)
    colour = ", ".join(str(c) for c in box.get("color", [114, 114, 114]))
    return [
        f"1. Letterbox to {height}x{width} (height x width): scale by r = min({height} / h, {width} / w)"
        f"{'' if box.get('scaleup', True) else ', never above 1'}, "
        f"resize with {box.get('interpolation', 'linear')} interpolation, "
        f"pad {'centred' if box.get('center', True) else 'right/bottom'} with colour ({colour}).",
        f"2. Channel order {pre.get('channel_order', 'RGB')} (OpenCV decodes BGR: convert first).",
        f"3. Convert to {pre.get('dtype', 'float32')} and multiply by {scale:.10g} "
        f"(= 1/{round(1 / scale) if scale else '?'}): values in [0, 1].",
        f"4. Layout {pre.get('layout', 'NCHW')}: HWC -> CHW, then stack images along the batch axis.",
        f"Strides: {metadata.get('stride', '?')}.",
    ]


def _classify_preprocessing(metadata: Mapping[str, Any], pre: Mapping[str, Any]) -> list[str]:
    resize = pre.get("resize") or {}
    height, width = (pre.get("center_crop") or metadata.get("imgsz") or ["?", "?"])[:2]
    scale = pre.get("scale", 1 / 255)
    return [
        f"1. No letterbox: resize so that the shorter side is {resize.get('shortest_side', '?')} pixels, keeping the "
        f"aspect ratio ({resize.get('interpolation', 'bilinear')} interpolation), then cut the centre "
        f"{height}x{width} (height x width) out of it.",
        f"2. Channel order {pre.get('channel_order', 'RGB')} (OpenCV decodes BGR: convert first).",
        f"3. Convert to {pre.get('dtype', 'float32')} and multiply by {scale:.10g} "
        f"(= 1/{round(1 / scale) if scale else '?'}): values in [0, 1]; mean {pre.get('mean')}, std "
        f"{pre.get('std')} (nothing more to subtract or divide).",
        f"4. Layout {pre.get('layout', 'NCHW')}: HWC -> CHW, then stack images along the batch axis.",
    ]


# per-row fields of a task's raw output (builder/yolo/sidecar.py _task_decoding), in the order OPS.md lists them
TASK_ROWS = (
    ("boxes", "Boxes"),
    ("scores", "Scores"),
    ("coefficients", "Mask coefficients"),
    ("prototypes", "Prototypes (second output)"),
    ("masks", "Masks"),
    ("angle", "Angle"),
    ("probabilities", "Probabilities"),
)


def _task_rows(dec: Mapping[str, Any]) -> list[str]:
    lines = [f"- {title}: {dec[key]}." for key, title in TASK_ROWS if dec.get(key)]
    keypoints = dec.get("keypoints") or {}
    if keypoints:
        values = ", ".join(keypoints.get("values") or [])
        lines.append(
            f"- Keypoints: {keypoints.get('count', '?')} per instance, each ({values})"
            + (f"; {keypoints['rows']}" if keypoints.get("rows") else "")
            + "; x, y in input pixels, undo the letterbox as for boxes."
        )
    return lines


def _decoding(metadata: Mapping[str, Any]) -> list[str]:
    dec = metadata.get("output_decoding") or {}
    names = _class_names(metadata.get("names"))
    if dec.get("format") == "final_detections":
        lines = _final_detections(dec)
    elif dec.get("format") != "xywh+class_scores":
        lines = [
            f"Outputs are raw (`{dec.get('format', '?')}`) for task {metadata.get('task', '?')}: "
            "decode them as that task's ultralytics head does."
        ]
        if dec.get("how"):  # the task's recipe (builder/yolo/sidecar.py)
            lines.append(f"Layout {_layout(dec)}: {dec['how']}.")
        lines += _task_rows(dec)
        if dec.get("boxes"):
            lines.append(
                "- To decode: transpose to [anchors, rows]; score = max over the class rows, class = argmax; drop "
                "rows below your confidence threshold; NMS per class; undo the letterbox: "
                "x = (x - pad_x) / r, y = (y - pad_y) / r."
            )
    else:
        lines = [
            f"Format `{dec['format']}`, layout {_layout(dec)}, {dec.get('num_classes', len(names))} classes.",
            f"- Boxes: {dec.get('boxes', '?')}.",
            f"- Scores: {dec.get('scores', '?')}.",
            "- To decode: transpose to [anchors, 4+nc]; score = max over classes, class = argmax; "
            "drop rows below your confidence "
            "threshold; convert centre/size to corners; run NMS per class; "
            "undo the letterbox: x = (x - pad_x) / r, y = (y - pad_y) / r.",
        ]
    if names:
        lines += ["", "Classes: " + ", ".join(f"{index}: {name}" for index, name in names) + "."]
    return lines


def _layout(dec: Mapping[str, Any]) -> str:
    """``[batch, 4+nc, anchors]`` (the sidecar's list of axis names, written as a shape)."""
    layout = dec.get("layout")
    return "[" + ", ".join(str(axis) for axis in layout) + "]" if isinstance(layout, list) else str(layout or "?")


def _final_detections(dec: Mapping[str, Any]) -> list[str]:
    """outputs.nms embedded / end2end: the model returns final detections (docs/outputs.md)."""
    how = "NMS inside the model" if dec.get("nms") == "embedded" else "the model's NMS-free end-to-end head"
    return [
        f"Final detections ({how}): layout {_layout(dec)}, {dec.get('num_classes', '?')} classes; no NMS to run.",
        f"- Each row: {dec.get('boxes', '?')}; {dec.get('scores', '?')}.",
        f"- Padding: {dec.get('padding', '?')}.",
        "- To read: keep rows with score above your confidence threshold (rows are sorted, stop at the first "
        "below it); undo the letterbox: x = (x - pad_x) / r, y = (y - pad_y) / r.",
    ]


def _backend_title(backend: Any) -> str:
    entry = find_backend(backend)
    return entry.title if entry is not None else str(backend)


def _class_names(names: Any) -> list[tuple[int, str]]:
    """``(class id, name)`` pairs from a list (index = id) or a mapping of id -> name, by id."""
    if isinstance(names, Mapping):
        pairs = [(int(k), str(v)) for k, v in names.items() if str(k).isdigit()]
    elif isinstance(names, (list, tuple)):
        pairs = [(i, str(v)) for i, v in enumerate(names)]
    else:
        pairs = []
    return sorted(pairs)


def _host_needs(req: HostRequirements, manifest: ManifestView) -> list[str]:
    image = manifest.environment.image
    built_in = f"Built in image `{image.name or 'none (bare build)'}`" + (
        f" from base `{image.base}`." if image.base else "."
    )
    entry = find_backend(req.backend)
    if entry is None or not entry.needs_gpu:
        return [
            f"- Any CPU host with ONNX Runtime {req.onnxruntime or '?'} or newer "
            "(the model uses basic, portable optimizations).",
            f"- {built_in}",
        ]
    gpu = f"- GPU: {req.gpu or '?'} (compute capability {req.compute_capability or '?'})"
    if req.hardware_compatibility == "ampere_plus":
        gpu += "; hardware-compatible engine: any Ampere or newer GPU (compute capability 8.0+) loads it."
    else:
        gpu += "; not hardware-compatible: the GPU must have exactly this compute capability (same model recommended)."
    if req.version_compatible:
        trt = (
            f"- TensorRT {req.tensorrt}; version-compatible engine: "
            "newer TensorRT loads it (8 -> 10, 10 -> 11 across majors) with host code allowed."
        )
    else:
        trt = (
            f"- TensorRT {req.tensorrt} exactly; not version-compatible: "
            "another TensorRT version refuses to load the plan."
        )
    if req.driver_branch:
        driver = (
            f"- NVIDIA driver R{req.driver_branch} or newer (the image's CUDA {req.cuda}); "
            "older drivers are refused: CUDA forward compatibility is not enabled (docs/tensorrt.md)."
        )
    else:
        driver = f"- NVIDIA driver: the minimum for CUDA {req.cuda or '?'} (see the image's release notes)."
    return [
        gpu,
        trt,
        driver,
        f"- {built_in}",
        "- Check a host before deploying: `verify` prints GO or NO-GO (see Checking this bundle).",
    ]


def _build_checks(manifest: ManifestView) -> list[str]:
    verify = manifest.verification
    lines = []
    for name, stats in (verify.outputs if verify else {}).items():
        lines.append(
            f"- Output `{name}` vs the FP32 ONNX Runtime reference: "
            f"max abs error {_or_nan(stats.max_abs):.4g} "
            f"(atol {stats.atol}), "
            f"max rel error {_or_nan(stats.max_rel):.4g} (rtol {stats.rtol})."
        )
    if verify and verify.agreements:
        lines.append(f"- Detections agree with the reference on sample images: at least {min(verify.agreements):.1%}.")
    lines += _accuracy_line(manifest)
    bench = manifest.benchmark
    latency = bench.latency_ms if bench else None
    if bench and latency:
        where = ", ".join(g.name or "?" for g in manifest.environment.gpus) or "the build host's CPU"
        lines.append(
            f"- Latency at batch {_or_unknown(bench.batch)} on {where}: "
            f"p50 {latency.p50 or 0:.3f} ms, p90 {latency.p90 or 0:.3f} ms, "
            f"p99 {latency.p99 or 0:.3f} ms; {bench.throughput_ips or 0:.1f} images/s "
            f"({bench.method or '?'})."
        )
    return lines or ["- No verification or benchmark details recorded."]


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _or_unknown(value: object) -> str:
    return "?" if value is None else str(value)


def _accuracy_line(manifest: ManifestView) -> list[str]:
    """The accuracy gate's numbers (the evaluate stage, docs/accuracy.md), when the build had one: the task's own
    metric (mask, pose or OBB mAP50-95, classify top-1) by name."""
    gate = manifest.evaluation
    if gate is None:
        return []
    key, metric = gate.gated
    pair, pair_name = ("top5", "top-5") if key == "top1" else ("map50", "mAP50")
    got, ref = gate.artifact, gate.reference
    value, reference = got.number(key), ref.number(key)
    if value is None or reference is None:
        return []
    return [
        f"- Accuracy on {_or_unknown(got.images)} labelled images of `{gate.data_name or '?'}` "
        f"[{gate.split or '?'}]: {metric} {value:.4f}, {pair_name} {got.number(pair) or 0:.4f}; the FP32 "
        f"reference {reference:.4f} / {ref.number(pair) or 0:.4f}; drop {gate.map50_95_drop or 0:+.4f} "
        f"(allowed {gate.max_map_drop})."
    ]


def _triton(triton: TritonModel, folder: str, manifest: ManifestView) -> list[str]:
    req = requirements_from_manifest(manifest)
    serving = triton_serving(req, manifest.profile.resolved.data, folder)
    onnx = manifest.export
    release = (
        f"Triton **{serving.release}** (`nvcr.io/nvidia/tritonserver:{serving.release}-py3`, {serving.runtime})"
        if serving.release
        else f"**no known Triton release** ({serving.runtime} needed)"
    )
    lines = [
        f"`{folder}/` is a model repository: `{triton.model_path}` and `{triton.config_path}` "
        f"(platform `{triton.platform}`, "
        f"max_batch_size {triton.max_batch_size}).",
        "",
        f"- Release: {release}: {serving.why}.",
        f"- Model: exported as ONNX opset {_or_unknown(onnx and onnx.opset)}, "
        f"IR version {_or_unknown(onnx and onnx.ir_version)}"
        + (
            f"; saved by ONNX Runtime {req.onnxruntime}."
            if not needs_gpu(req.backend)
            else f"; the plan was built from it by TensorRT {req.tensorrt}."
        ),
        f"- Post-processing (the model returns raw boxes, no NMS): keep detections with confidence >= {PREDICT_CONF}, "
        f"then class-wise NMS at IoU {PREDICT_NMS_IOU} (ultralytics' predict defaults, the IoU this build was "
        "verified with).",
        "",
        "Start it from the bundle folder:",
        "",
        f"    {serving.docker}",
        "",
        f"or, where Triton is installed, `{serving.command.replace('/models', '$PWD/' + folder)}`.",
    ]
    if needs_gpu(req.backend) and req.version_compatible:
        lines += [
            "",
            "This plan is version-compatible: it embeds TensorRT's lean runtime as host code, which Triton loads "
            f"(TensorRT `engine_host_code_allowed`) only with `{VERSION_COMPATIBLE_FLAG}` "
            f"(tensorrt_backend PR #74, Triton {VERSION_COMPATIBLE_SINCE}+; triton-inference-server/server#6129); "
            "without it the model fails to load.",
        ]
    lines += ["", "```", triton.config.rstrip("\n"), "```", "", f"<sub>{SOURCES}</sub>"]
    return lines

"""OPS.md content, generated from the manifest and metadata."""

from __future__ import annotations

import copy

from builder.ops.opsdoc import render_ops_doc
from builder.ops.triton import triton_model
from builder.record.manifest_read import read_manifest
from tests.ops.fakes import CPU_METADATA, synthetic_manifest


def _doc(manifest, metadata=CPU_METADATA):
    manifest = copy.deepcopy(manifest)
    stages = {s["name"]: s["details"] for s in manifest["stages"]}
    manifest["verification"], manifest["benchmark"] = stages["verify"], stages["benchmark"]
    manifest["artifacts"] = [
        {
            "path": "model.plan" if manifest["profile"]["resolved"]["backend"] == "tensorrt" else "model.ort.onnx",
            "kind": "model",
            "size": 1,
            "sha256": "2" * 64,
        }
    ]
    files = [("build/metadata.json", 10, "3" * 64)]
    view = read_manifest(manifest)
    return render_ops_doc(view, metadata, triton_model(view, metadata), files)


def test_tensorrt_doc_says_what_the_host_needs():
    doc = _doc(synthetic_manifest("a10-fp16", backend="tensorrt"))
    assert "- GPU: NVIDIA A10 (compute capability 8.6); not hardware-compatible" in doc
    assert "TensorRT 8.6.1 exactly; not version-compatible" in doc
    assert "NVIDIA driver R535 or newer (the image's CUDA 12.2)" in doc
    assert "`build/model.plan`: TensorRT plan" in doc
    assert "base@sha256:" in doc


def test_hardware_and_version_compatible_engines_say_so():
    manifest = synthetic_manifest("x", backend="tensorrt")
    manifest["profile"]["resolved"].update(hardware_compatibility="ampere_plus", version_compatible=True)
    doc = _doc(manifest)
    assert "hardware-compatible engine: any Ampere or newer GPU" in doc
    assert "version-compatible engine: newer TensorRT loads it" in doc
    assert "engine_host_code_allowed" in doc


def test_io_preprocessing_and_decoding_are_documented():
    doc = _doc(synthetic_manifest("tiny"))
    assert "| `images` | [1, 3, 64, 64] | float32 |" in doc
    assert "| `output0` | [1, 84, 84] | float32 |" in doc
    assert "Letterbox to 64x64" in doc and "pad centred with colour (114, 114, 114)" in doc
    assert "Channel order RGB" in doc and "(= 1/255)" in doc and "Layout NCHW" in doc
    assert "Format `xywh+class_scores`" in doc and "no NMS applied" in doc
    assert "Classes: 0: class0, 1: class1, 2: class2," in doc  # numeric order, not "0, 1, 10"
    assert "Static batch of 1" in doc


def test_dynamic_batch_and_build_checks_are_documented():
    meta = copy.deepcopy(CPU_METADATA)
    meta["batch"] = {"min": 1, "opt": 8, "max": 16}
    meta["inputs"][0]["shape"], meta["outputs"][0]["shape"] = [-1, 3, 64, 64], [-1, 84, 84]
    doc = _doc(synthetic_manifest("tiny"), meta)
    assert "| `images` | [batch, 3, 64, 64] | float32 |" in doc
    assert "Dynamic batch: 1 to 16 images per call (tuned for 8)" in doc
    assert "max abs error 0.001 (atol 0.01)" in doc
    assert "p50 10.000 ms" in doc
    assert "max_batch_size: 16" in doc


def test_cpu_doc_needs_onnxruntime_not_a_gpu():
    doc = _doc(synthetic_manifest("tiny"))
    assert "Any CPU host with ONNX Runtime 1.16.3 or newer" in doc
    assert "compute capability" not in doc.split("## What the target host needs")[1].split("##")[0]
    assert "platform `onnxruntime_onnx`" in doc


def test_class_names_as_a_mapping_are_listed_by_numeric_id_and_raw_outputs_are_named():
    meta = copy.deepcopy(CPU_METADATA)
    meta["names"] = {str(i): f"c{i}" for i in range(12)}
    assert "Classes: 0: c0, 1: c1, 2: c2, 3: c3, 4: c4, 5: c5, 6: c6, 7: c7, 8: c8, 9: c9, 10: c10, 11: c11." in _doc(
        synthetic_manifest("tiny"), meta
    )
    meta.update(task="segment", output_decoding={"format": "raw"})
    assert "Outputs are raw (`raw`) for task segment" in _doc(synthetic_manifest("tiny"), meta)


def test_the_map_gate_is_shown_when_the_build_had_one():
    manifest = synthetic_manifest("tiny")
    assert "mAP50-95" not in _doc(manifest)
    manifest["stages"].append(
        {
            "name": "evaluate",
            "status": "ok",
            "details": {
                "artifact": {"map50_95": 0.9123, "map50": 0.99, "images": 100},
                "reference": {"map50_95": 0.9167, "map50": 0.9891},
                "map50_95_drop": 0.0044,
                "thresholds": {"max_map_drop": 0.01},
                "data": "fixtures/shapes/data.yaml",
                "split": "val",
            },
        }
    )
    doc = _doc(manifest)
    assert (
        "Accuracy on 100 labelled images of `fixtures/shapes/data.yaml` [val]: mAP50-95 0.9123, mAP50 0.9900; "
        "the FP32 reference 0.9167 / 0.9891; drop +0.0044 (allowed 0.01)."
    ) in doc


def test_ops_are_told_how_to_reproduce_the_bundle():
    for manifest in (synthetic_manifest("a10-fp16", backend="tensorrt"), synthetic_manifest("cpu-fp32")):
        doc = _doc(manifest)
        assert "`.venv/bin/engine-foundry reproduce <bundle>.tar.gz`" in doc and "DIFFERS (exit 5)" in doc
        assert "`.venv/bin/engine-foundry verify --trusted-key <the signer's public key> <bundle>.tar.gz`" in doc

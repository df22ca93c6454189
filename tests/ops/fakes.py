"""Synthetic manifests and build folders for the ops tests (schema-valid, hashes real)."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from builder.common.hashing import format_sums, sha256_file
from builder.record.layout import ArtifactLayout
from tests.support import REPO

CPU_METADATA = {
    "schema_version": 1,
    "profile": "tiny",
    "backend": "onnxruntime",
    "model_file": "model.ort.onnx",
    "task": "detect",
    "precision": "fp32",
    "imgsz": [64, 64],
    "stride": 32,
    "batch": {"min": 1, "opt": 1, "max": 1},
    "inputs": [{"name": "images", "shape": [1, 3, 64, 64], "dtype": "float32"}],
    "outputs": [{"name": "output0", "shape": [1, 84, 84], "dtype": "float32"}],
    "names": [f"class{i}" for i in range(80)],
    "preprocessing": {
        "letterbox": {"color": [114, 114, 114], "center": True, "scaleup": True, "interpolation": "linear"},
        "channel_order": "RGB",
        "scale": 1 / 255,
        "layout": "NCHW",
        "dtype": "float32",
    },
    "output_decoding": {
        "format": "xywh+class_scores",
        "layout": ["batch", "4+nc", "anchors"],
        "num_classes": 80,
        "boxes": "centre x, centre y, width, height in input pixels (letterboxed image)",
        "scores": "per-class scores after sigmoid; no NMS applied",
    },
}


@functools.cache
def _shipped_profile(name: str) -> str:
    from builder.profile.load import load_profile

    return json.dumps(load_profile(name, REPO / "profiles").to_dict())


def _resolved_profile(name: str) -> dict[str, Any]:
    """A shipped profile's resolved form (as manifests store it): the manifest check validates it in full."""
    return json.loads(_shipped_profile(name))


def build_id(n: int) -> str:
    """A valid, time-sortable build ID; larger ``n`` is newer."""
    return f"20250101T{n // 3600:02d}{n // 60 % 60:02d}{n % 60:02d}000000Z-{n:012x}"


def synthetic_manifest(
    profile: str = "tiny", n: int = 1, backend: str = "onnxruntime", p50: float = 10.0
) -> dict[str, Any]:
    """A succeeded manifest (artifacts filled in by :func:`write_build`)."""
    resolved = _resolved_profile("a10-fp16" if backend == "tensorrt" else "cpu-fp32")
    resolved.update(
        name=profile, backend=backend, imgsz=[64, 64], batch={"min": 1, "opt": 1, "max": 1},
        hardware_compatibility="none",
        version_compatible=False, description="synthetic", source=f"/profiles/{profile}.yaml", extends_chain=[],
    )  # fmt: skip
    resolved["verify"].update(seed=0, tolerances={"default": {"atol": 0.01, "rtol": 0.001}})
    tensorrt = backend == "tensorrt"
    gpus = [
        {
            "index": 0,
            "name": "NVIDIA A10",
            "uuid": "GPU-1",
            "compute_capability": "8.6",
            "memory_total_mib": 23028,
            "driver_version": "535.104.05",
        }
    ]
    return {
        "schema_version": 1,
        "builder_version": "0.1.0",
        "build_id": build_id(n),
        "build_key": hashlib.sha256(f"key-{profile}".encode()).hexdigest(),
        "status": "succeeded",
        "created_at": f"2025-01-01T00:00:{n % 60:02d}.000Z",
        "finished_at": f"2025-01-01T00:00:{n % 60:02d}.500Z",
        "profile": {
            "name": profile,
            "source": resolved["source"],
            "sha256": hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest(),
            "resolved": resolved,
        },
        "inputs": {
            "weights": {"identity": "yaml:yolo11n.yaml:seed=0", "sha256": "a" * 64},
            "onnx": {"path": "model.onnx", "sha256": "b" * 64},
        },
        "environment": {
            "python": "3.10.12",
            "machine": "x86_64",
            "platform": "Linux",
            "executable": "/usr/bin/python3",
            "in_container": True,
            "packages": {"onnxruntime": "1.16.3", "tensorrt": "8.6.1" if tensorrt else None, "ultralytics": "8.3.0"},
            "image": {
                "id": f"sha256:{'c' * 64}",
                "ref": "engine-foundry:trt" if tensorrt else "engine-foundry:cpu",
                "base": "base@sha256:" + "d" * 64,
            },
            "gpus": gpus if tensorrt else [],
            "driver": "535.104.05" if tensorrt else None,
            "cuda": "12.2.1" if tensorrt else None,
            "tensorrt": "8.6.1" if tensorrt else None,
        },  # fmt: skip
        "stages": [
            {
                "name": "verify",
                "status": "ok",
                "details": {
                    "tensors": {
                        "outputs": {
                            "output0": {
                                "max_abs": 0.001,
                                "max_rel": 0.0001,
                                "atol": 0.01,
                                "rtol": 0.001,
                                "failed_inputs": 0,
                            }
                        }
                    },
                    "detections": {"images": [{"agreement": 1.0, "matched": 100, "total": 100, "passed": True}]},
                },
            },
            {
                "name": "benchmark",
                "status": "ok",
                "details": {
                    "method": "polygraphy-onnxrt",
                    "batch": 1,
                    "throughput_ips": 1000 / p50,
                    "latency_ms": {"p50": p50, "p90": p50 * 1.1, "p99": p50 * 1.3},
                },
            },
        ],  # fmt: skip
        "artifacts": [],
        "verification": None,
        "benchmark": None,
    }


def manifest_record(
    profile: str, build_id: str, build_key: str, status: str = "succeeded", **fields: Any
) -> dict[str, Any]:
    """A schema-valid manifest with these fields (every reader reads it through builder.record.manifest_read)."""
    manifest = synthetic_manifest(profile)
    manifest.update(build_id=build_id, build_key=build_key, status=status, **fields)
    return manifest


def write_build(
    artifacts: Path, manifest: dict[str, Any], files: dict[str, bytes] | None = None, *,
    kinds: dict[str, str] | None = None, latest: bool = True, metadata: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """Publish ``manifest`` with ``files`` as a good build folder (artifacts, SHA256SUMS, ``latest``)."""
    manifest = copy.deepcopy(manifest)
    tensorrt = manifest["profile"]["resolved"]["backend"] == "tensorrt"
    model_name = "model.plan" if tensorrt else "model.ort.onnx"
    meta = copy.deepcopy(metadata or CPU_METADATA)
    meta["profile"], meta["backend"], meta["model_file"] = (
        manifest["profile"]["name"],
        manifest["profile"]["resolved"]["backend"],
        model_name,
    )
    files = (
        files
        if files is not None
        else {
            "model.onnx": b"onnx-bytes",
            model_name: b"model-bytes",
            "metadata.json": (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode(),
        }
    )
    kinds = kinds or {"model.onnx": "onnx", model_name: "model", "metadata.json": "metadata", "layers.json": "layers"}
    layout = ArtifactLayout(artifacts, manifest["profile"]["name"])
    folder = layout.build_dir(manifest["build_id"])
    folder.mkdir(parents=True)
    for rel, data in files.items():
        (folder / rel).write_bytes(data)
    manifest["artifacts"] = [
        {"path": rel, "kind": kinds.get(rel, "other"), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        for rel, data in sorted(files.items())
    ]
    stages = {s["name"]: s["details"] for s in manifest["stages"]}
    manifest["verification"], manifest["benchmark"] = stages.get("verify"), stages.get("benchmark")
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    entries = [(rel, sha256_file(folder / rel)) for rel in [*files, "manifest.json"]]
    (folder / "SHA256SUMS").write_text(format_sums(entries))
    if latest:
        layout.point_latest_at(manifest["build_id"])
    return folder


def write_failed(artifacts: Path, profile: str, n: int) -> Path:
    """A failed build record under ``failed/``."""
    folder = ArtifactLayout(artifacts, profile).failed_dir / build_id(n)
    folder.mkdir(parents=True)
    manifest = synthetic_manifest(profile, n)
    manifest.update(status="failed", error={"stage": "verify", "message": "output0 exceeds atol", "hint": None})
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder

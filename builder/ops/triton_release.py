"""Which Triton Inference Server release serves a build, and the command that starts it (``OPS.md``).

Facts about Triton releases, each from the source named beside it (triton-inference-server/server):

- ONNX Runtime bundled per release: ``docs/introduction/compatibility.md`` "ONNX Runtime Versions" on ``main`` at
  e1db8a6 (24.04 to 26.07) and ``build.py`` ``TRITON_VERSION_MAP`` on ``r23.08`` (23.08: ONNX Runtime 1.15.1).
- TensorRT per release: 25.01 is built on TensorRT 10.8.0.43 (``r25.01`` ``docs/introduction/release_notes.md`` and
  ``compatibility.md``); 23.08 on TensorRT 8.6.1.6 (``r23.08`` ``Dockerfile.win10.min``: ``TENSORRT_VERSION=8.6.1.6``,
  the NGC 23.08 stack the ``trt`` image's base shares).
- Version-compatible plans load only with ``--backend-config=tensorrt,version-compatible=true``
  (triton-inference-server/tensorrt_backend PR #74, first in branch ``r23.09``; server#6129).

A plan loads only in exactly the TensorRT that built it unless it is version-compatible; an ONNX Runtime model is
served by a release whose ONNX Runtime is at least the one that saved it (the rule ``verify`` applies,
:mod:`builder.verify.compat`). Pure and dependency-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builder.backends.catalog import needs_gpu
from builder.verify.compat import VERSION_COMPATIBLE_MAJORS, HostRequirements

#: (Triton release, the ONNX Runtime its onnxruntime backend bundles), oldest first
TRITON_ONNXRUNTIME = (
    ("23.08", "1.15.1"),
    ("24.04", "1.17.3"), ("24.05", "1.18.0"), ("24.06", "1.18.0"), ("24.07", "1.18.1"), ("24.08", "1.18.1"),
    ("24.09", "1.19.2"), ("24.10", "1.19.2"), ("24.11", "1.19.2"), ("24.12", "1.20.1"), ("25.01", "1.20.1"),
    ("25.02", "1.20.1"), ("25.03", "1.21.0"), ("25.04", "1.21.0"), ("25.05", "1.22.0"), ("25.06", "1.22.0"),
    ("25.07", "1.22.0"), ("25.08", "1.23.0"), ("25.09", "1.23.0"), ("25.10", "1.23.1"), ("25.11", "1.23.2"),
    ("25.12", "1.23.2"), ("26.01", "1.23.2"), ("26.02", "1.24.1"), ("26.03", "1.24.2"), ("26.04", "1.24.4"),
    ("26.05", "1.24.4"), ("26.06", "1.24.4"), ("26.07", "1.27.0"),
)  # fmt: skip
#: TensorRT major.minor.patch -> (the Triton release built on it, its full TensorRT version)
TRITON_TENSORRT = {"8.6.1": ("23.08", "8.6.1.6"), "10.8.0": ("25.01", "10.8.0.43")}
VERSION_COMPATIBLE_SINCE = "23.09"  # tensorrt_backend PR #74 (`version-compatible`), first in r23.09
VERSION_COMPATIBLE_FLAG = "--backend-config=tensorrt,version-compatible=true"
#: what a deployment applies to the raw output (no NMS in the model): ultralytics 8.4.190 ``cfg/default.yaml``
#: predict defaults, the same IoU the verify stage uses (``builder/yolo/detections.py`` ``NMS_IOU``)
PREDICT_CONF = 0.25
PREDICT_NMS_IOU = 0.7
SOURCES = (
    "Triton facts: triton-inference-server/server docs/introduction/compatibility.md (ONNX Runtime per release), "
    "r25.01 release notes (TensorRT 10.8.0.43), r23.08 build files (TensorRT 8.6.1.6, ONNX Runtime 1.15.1); "
    "version-compatible plans: tensorrt_backend PR #74 (Triton 23.09+), server#6129."
)


@dataclass(frozen=True)
class TritonServing:
    """The Triton release for a build (None: no known release fits) and how to start it on the bundle."""

    release: str | None
    runtime: str  # "TensorRT 8.6.1.6" / "ONNX Runtime 1.15.1": what that release bundles
    why: str
    command: str  # tritonserver ... (inside the container, the repository mounted at /models)
    docker: str  # the whole `docker run` line


def _version(text: str | None) -> tuple[int, ...]:
    parts = []
    for piece in str(text or "").split("+")[0].split("."):
        if not piece.isdigit():
            break
        parts.append(int(piece))
    return tuple(parts)


def triton_serving(req: HostRequirements, resolved: Mapping[str, Any], repository: str = "triton") -> TritonServing:
    """The Triton release and command for a build with requirements ``req`` and resolved profile ``resolved``."""
    gpu = needs_gpu(req.backend)  # the GPU backend's plan is served by Triton's TensorRT backend
    if gpu:
        release, runtime, why = _tensorrt_release(req)
    else:
        release, runtime, why = _onnxruntime_release(req)
    command = "tritonserver --model-repository=/models"
    if gpu and req.version_compatible:
        command += f" {VERSION_COMPATIBLE_FLAG}"
    image = f"nvcr.io/nvidia/tritonserver:{release or '<release>'}-py3"
    docker = (
        f"docker run --rm {'--gpus=all ' if gpu else ''}-p 8000:8000 -p 8001:8001 -p 8002:8002 "
        f'-v "$PWD/{repository}:/models:ro" {image} {command}'
    )
    return TritonServing(release, runtime, why, command, docker)


def _tensorrt_release(req: HostRequirements) -> tuple[str | None, str, str]:
    version = _version(req.tensorrt)
    key = ".".join(str(p) for p in version[:3])
    known = TRITON_TENSORRT.get(key)
    if not req.version_compatible:
        if known is None:
            return (
                None,
                f"TensorRT {req.tensorrt}",
                f"no Triton release known here is built on TensorRT {req.tensorrt}; use the one whose TensorRT is "
                "exactly that version (Triton's compatibility matrix): a plan loads only in the TensorRT that built it",
            )
        return (
            known[0],
            f"TensorRT {known[1]}",
            f"Triton {known[0]} is built on TensorRT {known[1]}, the version this plan was built with: a plan that "
            "is not version-compatible loads only in exactly that TensorRT",
        )
    majors = VERSION_COMPATIBLE_MAJORS.get(version[0] if version else -1, ())
    since = max(VERSION_COMPATIBLE_SINCE, known[0]) if known else VERSION_COMPATIBLE_SINCE
    return (
        since,
        f"TensorRT {req.tensorrt} or newer (majors {', '.join(map(str, majors)) or '?'})",
        f"a version-compatible plan loads in TensorRT {req.tensorrt} or newer ({' -> '.join(map(str, majors))} "
        f"across majors), in Triton {VERSION_COMPATIBLE_SINCE} or newer started with `{VERSION_COMPATIBLE_FLAG}` "
        "(tensorrt_backend PR #74, server#6129); the first such release with this TensorRT or newer: "
        f"{since}",
    )


def _onnxruntime_release(req: HostRequirements) -> tuple[str | None, str, str]:
    want = _version(req.onnxruntime)
    for release, ort in TRITON_ONNXRUNTIME:
        if _version(ort) >= want:
            return (
                release,
                f"ONNX Runtime {ort}",
                f"Triton {release} is the first release whose ONNX Runtime ({ort}) is at least the {req.onnxruntime} "
                "that saved this model (any later release serves it too)",
            )
    last, ort = TRITON_ONNXRUNTIME[-1]
    return (
        None,
        f"ONNX Runtime {req.onnxruntime} or newer",
        f"no Triton release up to {last} (ONNX Runtime {ort}) bundles ONNX Runtime {req.onnxruntime} or newer, the "
        "version that saved this model: use a later release, or serve the model with ONNX Runtime "
        f"{req.onnxruntime}+ directly",
    )

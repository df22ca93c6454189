"""A Triton model repository for one build: ``<model>/config.pbtxt`` and ``<model>/1/<file>``.

The platform and file name come from the backend catalogue: TensorRT plans get
``platform: "tensorrt_plan"`` and ``1/model.plan``; ONNX Runtime models get
``platform: "onnxruntime_onnx"`` and ``1/model.onnx``.
A dynamic batch (first dimension -1 in ``metadata.json``) becomes
``max_batch_size: <batch.max>`` with per-item dims and a dynamic batcher that
prefers ``batch.opt``; a static batch becomes ``max_batch_size: 0`` with the
full shape, as Triton requires for models it cannot batch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from builder.backends.catalog import backends, find_backend
from builder.errors import ArtifactError
from builder.record.manifest_read import ManifestView

TRITON_TYPES = {
    "float32": "TYPE_FP32", "float16": "TYPE_FP16", "float64": "TYPE_FP64", "bfloat16": "TYPE_BF16",
    "int8": "TYPE_INT8", "int16": "TYPE_INT16", "int32": "TYPE_INT32", "int64": "TYPE_INT64",
    "uint8": "TYPE_UINT8", "uint16": "TYPE_UINT16", "uint32": "TYPE_UINT32", "uint64": "TYPE_UINT64",
    "bool": "TYPE_BOOL",
}  # fmt: skip
QUEUE_DELAY_US = 100


@dataclass(frozen=True)
class TritonModel:
    """One model of a Triton repository: its folder name, version-1 file name and config text."""

    name: str
    platform: str
    model_file: str
    config: str
    max_batch_size: int

    @property
    def model_path(self) -> str:
        return f"{self.name}/1/{self.model_file}"

    @property
    def config_path(self) -> str:
        return f"{self.name}/config.pbtxt"


def model_name(profile: str) -> str:
    """A Triton model (folder) name from a profile name: letters, digits, ``-`` and ``_``."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", profile).strip("_")
    return name or "model"


def triton_model(manifest: ManifestView, metadata: Mapping[str, Any]) -> TritonModel:
    """The Triton model for a build, from its manifest (backend, profile name) and ``metadata.json`` (I/O, batch).

    Raises:
        ArtifactError: unknown backend or dtype, or a batch dimension on some tensors only.
    """
    return triton_model_for(manifest.profile.resolved.backend, manifest.profile.name, metadata)


def triton_model_for(backend: str, profile: str, metadata: Mapping[str, Any]) -> TritonModel:
    """:func:`triton_model` from the backend and profile name (a build not published yet has no manifest)."""
    entry = find_backend(backend)
    if entry is None or entry.triton is None:
        served = ", ".join(e.name for e in backends() if e.triton is not None)
        raise ArtifactError(
            f"no Triton platform for backend {backend!r}", hint=f"Triton repositories are made for {served}"
        )
    platform, model_file, kind = entry.triton.platform, entry.triton.model_file, entry.triton.instance_kind
    name = model_name(profile)
    inputs, outputs = list(metadata.get("inputs") or []), list(metadata.get("outputs") or [])
    if not inputs or not outputs:
        raise ArtifactError("metadata.json lists no inputs or no outputs", hint="rebuild: the build stage writes them")
    batching = all(_dims(t)[:1] == [-1] for t in inputs + outputs)
    if not batching and any(_dims(t)[:1] == [-1] for t in inputs):
        raise ArtifactError(
            "metadata.json: the batch dimension is dynamic on some tensors only",
            hint="Triton needs it on every input and output",
        )
    batch = metadata.get("batch") or {}
    max_batch = int(batch.get("max", 1)) if batching else 0
    lines = [f'name: "{name}"', f'platform: "{platform}"', f"max_batch_size: {max_batch}"]
    lines += _tensors("input", inputs, batching) + _tensors("output", outputs, batching)
    if batching:
        lines += _batcher(int(batch.get("min", 1)), int(batch.get("opt", 1)), max_batch)
    lines += ["instance_group [", f"  {{ kind: {kind}, count: 1 }}", "]", f'default_model_filename: "{model_file}"']
    return TritonModel(name, platform, model_file, "\n".join(lines) + "\n", max_batch)


def _tensors(section: str, tensors: Sequence[Mapping[str, Any]], batching: bool) -> list[str]:
    lines = [f"{section} ["]
    for index, tensor in enumerate(tensors):
        dims = _dims(tensor)[1:] if batching else _dims(tensor)
        dtype = str(tensor.get("dtype"))
        if dtype not in TRITON_TYPES:
            raise ArtifactError(
                f"metadata.json: {section} {tensor.get('name')!r} has dtype {dtype!r} with no Triton type",
                hint="rebuild the artifact",
            )
        lines += [
            "  {",
            f'    name: "{tensor["name"]}"',
            f"    data_type: {TRITON_TYPES[dtype]}",
            f"    dims: [ {', '.join(str(d) for d in dims)} ]",
            "  }" + ("," if index < len(tensors) - 1 else ""),
        ]
    return lines + ["]"]


def _batcher(low: int, opt: int, high: int) -> list[str]:
    lines = ["dynamic_batching {"]
    if low > 1:
        lines.append(f"  # the engine accepts batches of {low}..{high} only: send at least {low} images per request")
    if 1 < opt <= high:
        lines.append(f"  preferred_batch_size: [ {opt} ]")
    return lines + [f"  max_queue_delay_microseconds: {QUEUE_DELAY_US}", "}"]


def _dims(tensor: Mapping[str, Any]) -> list[int]:
    dims = []
    for dim in tensor.get("shape") or []:
        dims.append(dim if isinstance(dim, int) and dim > 0 else -1)
    return dims

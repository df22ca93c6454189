"""What the build needs to know about the ONNX file before TensorRT sees it (read with ``onnx``, no weights)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from builder.backends.tensorrt.versions import TrtVersion, max_onnx_opset
from builder.common.hashing import sha256_file
from builder.errors import EngineBuildError

Dim = int | str | None  # fixed size, symbolic name, or unknown


@dataclass(frozen=True)
class OnnxFacts:
    path: str
    sha256: str
    opset: int  # of the default ("" / "ai.onnx") domain
    inputs: tuple[tuple[str, tuple[Dim, ...]], ...]  # graph inputs that are not initializers
    metadata: dict[str, str] = field(default_factory=dict)  # metadata_props (ultralytics writes its metadata here)


def onnx_facts(path: Path) -> OnnxFacts:
    """Read opset, inputs and metadata of ``path`` without loading external weights.

    Raises:
        EngineBuildError: the file is not a readable ONNX model.
    """
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # onnx raises DecodeError, OSError, ... for a broken file
        raise EngineBuildError(
            f"cannot read ONNX model {path}: {err}", hint="re-run the export stage; the file may be truncated"
        ) from err
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    initializers = {init.name for init in model.graph.initializer}
    inputs = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims: list[Dim] = []
        for dim in value.type.tensor_type.shape.dim:
            kind = dim.WhichOneof("value")
            dims.append(dim.dim_value if kind == "dim_value" else dim.dim_param if kind == "dim_param" else None)
        inputs.append((value.name, tuple(dims)))
    return OnnxFacts(
        path=str(path),
        sha256=sha256_file(path),
        opset=opset,
        inputs=tuple(inputs),
        metadata={prop.key: prop.value for prop in model.metadata_props},
    )


def single_input(facts: OnnxFacts) -> tuple[str, tuple[Dim, ...]]:
    """The model's one image input.

    Raises:
        EngineBuildError: the model has no input or several.
    """
    if len(facts.inputs) != 1:
        names = [name for name, _ in facts.inputs]
        raise EngineBuildError(
            f"ONNX model {facts.path} has {len(names)} inputs {names}; the TensorRT backend builds single-input "
            "image models",
            hint="export a YOLO detection model (one input, `images`)",
        )
    return facts.inputs[0]


def check_onnx_opset(facts: OnnxFacts, version: TrtVersion) -> None:
    """Refuse, before building, an ONNX whose opset is above what this TensorRT's parser supports.

    Raises:
        EngineBuildError: opset too high (or missing).
    """
    limit = max_onnx_opset(version)
    if facts.opset < 1 or facts.opset > limit:
        raise EngineBuildError(
            f"ONNX model {facts.path} uses opset {facts.opset or 'unknown'}, but the ONNX parser of TensorRT "
            f"{version} supports opsets up to {limit}",
            hint=f"set `opset: {min(limit, 17)}` in the profile and rebuild (17 works with TensorRT 8.6 and later)",
        )

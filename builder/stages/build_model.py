"""Stage ``build``: the profile's backend turns ``model.onnx`` into the deployable artifact."""

from __future__ import annotations

from builder.backends.registry import get_backend
from builder.errors import EngineBuildError
from builder.stage_types import ArtifactOut, StageContext, StageResult
from builder.yolo.sidecar import METADATA_NAME, sidecar_metadata, write_sidecar

NAME = "build"


def run(ctx: StageContext) -> StageResult:
    """Check the backend can run here, build, and write ``metadata.json`` beside the model.

    Raises:
        HostEnvironmentError: the backend is unavailable on this machine.
        EngineBuildError: the export stage left no ONNX, or the backend failed.
    """
    export = ctx.prior.get("export")
    if export is None:
        raise EngineBuildError("no export result to build from", hint="run the export stage first")
    onnx_path = ctx.path(export.artifact("onnx"))
    if not onnx_path.is_file():
        raise EngineBuildError(f"{onnx_path} is missing", hint="rerun the build from the export stage")
    backend = get_backend(ctx.profile.backend.value)
    host = backend.check_available(ctx.profile)
    result = backend.build(ctx, onnx_path)
    try:
        model = result.artifact("model")
    except KeyError:
        raise EngineBuildError(
            f"backend {backend.NAME} produced no model artifact", hint="this is a backend bug; please report it"
        ) from None
    metadata = sidecar_metadata(ctx.profile, export.details, model.path)
    write_sidecar(ctx.workdir / METADATA_NAME, metadata)
    ctx.log(f"build: wrote {model.path} and {METADATA_NAME}")
    details = {**result.details, "backend": backend.NAME, "host": dict(host), "metadata": METADATA_NAME}
    return StageResult(details=details, artifacts=(*result.artifacts, ArtifactOut(METADATA_NAME, "metadata")))

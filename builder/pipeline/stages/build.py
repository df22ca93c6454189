"""Stage ``build``: the profile's backend turns ``model.onnx`` into the deployable artifact."""

from __future__ import annotations

from dataclasses import replace

from builder.backends.registry import get_backend
from builder.errors import EngineBuildError
from builder.machine.gpu import GpuProbe
from builder.pipeline.stage_types import ArtifactOut, BackendHost, BuildResult, ExportResult, StageContext, StageResult
from builder.profile import Profile
from builder.yolo.sidecar import METADATA_NAME, sidecar_metadata, write_sidecar

NAME = "build"


def preflight(profile: Profile, gpus: GpuProbe) -> BackendHost:
    """Before the export: refuse a backend that cannot build here (no TensorRT, no GPU, the wrong GPU).

    Returns the backend's host facts, found once per build and handed on as ``StageContext.host``.
    """
    return get_backend(profile.backend.value).check_available(profile, gpus)


def run(ctx: StageContext) -> StageResult:
    """Check the backend can run here, build, and write ``metadata.json`` beside the model.

    Raises:
        HostEnvironmentError: the backend is unavailable on this machine.
        EngineBuildError: the export stage left no ONNX, or the backend failed.
    """
    export = ctx.handed(ExportResult)
    if export is None:
        raise EngineBuildError("no export result to build from", hint="run the export stage first")
    onnx_path = ctx.path(export.onnx)
    if not onnx_path.is_file():
        raise EngineBuildError(f"{onnx_path} is missing", hint="rerun the build from the export stage")
    backend = get_backend(ctx.profile.backend.value)
    host = ctx.host if ctx.host is not None else backend.check_available(ctx.profile)  # a stage run on its own
    result = backend.build(replace(ctx, host=host), onnx_path)
    try:
        model = result.artifact("model")
    except KeyError:
        raise EngineBuildError(
            f"backend {backend.NAME} produced no model artifact", hint="this is a backend bug; please report it"
        ) from None
    write_sidecar(ctx.workdir / METADATA_NAME, sidecar_metadata(ctx.profile, export, model.path))
    ctx.log(f"build: wrote {model.path} and {METADATA_NAME}")
    details = {**result.details, "backend": backend.NAME, "host": host.facts(), "metadata": METADATA_NAME}
    return StageResult(
        details=details,
        artifacts=(*result.artifacts, ArtifactOut(METADATA_NAME, "metadata")),
        inputs=result.inputs,
        output=BuildResult(model, export.input.name, host),
    )

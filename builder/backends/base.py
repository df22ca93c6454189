"""The seam every backend plugs into."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from builder.machine.gpu import GpuProbe
from builder.pipeline.stage_types import BackendHost, BuildResult, StageContext, StageResult
from builder.profile import Profile


class BackendModule(Protocol):
    """A backend is a module with these functions (see onnxruntime.py, tensorrt/)."""

    NAME: str

    def check_available(self, profile: Profile, gpus: GpuProbe | None = None) -> BackendHost:
        """Raise HostEnvironmentError (with a TIP) if this backend cannot build ``profile`` here.

        ``gpus`` is the build's one GPU discovery (None: discover here). Returns what was found (versions, GPU,
        target match); the pipeline calls this once per build and hands the result on as ``StageContext.host``.
        """

    def build(self, ctx: StageContext, onnx_path: Path) -> StageResult:
        """Turn ``onnx_path`` into artifacts under ``ctx.workdir``, on the host of ``ctx.host`` (None: check here).

        The result's artifact of kind ``"model"`` is the deployable file (a raw TensorRT plan, or the ONNX Runtime
        model).
        """

    def make_runner(self, artifact: Path, profile: Profile) -> Any:
        """A Polygraphy runner (context manager with ``infer(feed_dict)``) for the artifact."""

    def benchmark(self, ctx: StageContext, build: BuildResult) -> Mapping[str, Any]:
        """Latency p50/p90/p99 (ms), throughput (img/s) and the ``method`` used, of the build's model."""

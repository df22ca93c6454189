"""The pipeline's stages, in order: ``PIPELINE`` is what ``builder.pipeline.run_build`` runs by default.

Each stage is a module with ``NAME`` and ``run(ctx) -> StageResult`` (and optionally ``preflight``): see
:class:`builder.stage_types.Stage`. Stages reach backends only through ``builder.backends.registry``.
Container side: never imports ``docker``.
"""

from __future__ import annotations

from builder.stage_types import Stage
from builder.stages import benchmark_model, build_model, export_onnx, publish, verify_model

PIPELINE: tuple[Stage, ...] = (export_onnx, build_model, verify_model, benchmark_model, publish)
STAGE_NAMES: tuple[str, ...] = tuple(stage.NAME for stage in PIPELINE)

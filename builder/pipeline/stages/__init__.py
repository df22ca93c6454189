"""The pipeline's stages, in order: ``PIPELINE`` is what ``builder.pipeline.run.run_build`` runs by default.

Each stage is a module with ``NAME`` and ``run(ctx) -> StageResult`` (and optionally ``preflight``): see
:class:`builder.pipeline.stage_types.Stage`. Stages reach backends only through ``builder.backends.registry``.
Container side: never imports ``docker``.
"""

from __future__ import annotations

from builder.pipeline.stage_types import Stage
from builder.pipeline.stages import benchmark, build, evaluate, export, publish, verify

PIPELINE: tuple[Stage, ...] = (export, build, verify, evaluate, benchmark, publish)
STAGE_NAMES: tuple[str, ...] = tuple(stage.NAME for stage in PIPELINE)

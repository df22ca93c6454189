"""Plain helpers for stage and backend tests: contexts, real exports, perturbed ONNX models."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

# Before anything imports ultralytics or polygraphy: no run-time installs, no network, no settings in $HOME.
os.environ["YOLO_AUTOINSTALL"] = "false"
os.environ["POLYGRAPHY_AUTOINSTALL_DEPS"] = "0"
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "engine-foundry-tests-ultralytics"))

from builder.pipeline.stage_types import StageContext, StageResult  # noqa: E402
from builder.profile import Profile  # noqa: E402


def make_ctx(profile: Profile, root: Path, *, models_dir: Path | None = None, **prior: StageResult) -> StageContext:
    """A StageContext with build/scratch/models folders under ``root``; log lines go to ``ctx_logs(ctx)``."""
    workdir, scratch = root / "build", root / "scratch"
    models = models_dir or root / "models"
    for folder in (workdir, scratch, models):
        folder.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    ctx = StageContext(profile, workdir, scratch, models, None, lines.append, prior)
    _LOGS[id(ctx)] = lines
    return ctx


_LOGS: dict[int, list[str]] = {}


def ctx_logs(ctx: StageContext) -> list[str]:
    return _LOGS[id(ctx)]


def with_prior(ctx: StageContext, **prior: StageResult) -> StageContext:
    """The same context with more earlier-stage results."""
    new = replace(ctx, prior={**ctx.prior, **prior})
    _LOGS[id(new)] = _LOGS[id(ctx)]
    return new


def onnx_with_output_offset(src: Path, dst: Path, offset: Any) -> Path:
    """Copy an ONNX model, adding the constant ``offset`` (broadcast) to its first output."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    output = model.graph.output[0].name
    raw = f"{output}_unperturbed"
    for node in model.graph.node:
        node.output[:] = [raw if name == output else name for name in node.output]
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(offset, dtype=np.float32), "perturbation"))
    model.graph.node.append(helper.make_node("Add", [raw, "perturbation"], [output], name="perturb"))
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    return dst

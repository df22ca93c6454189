"""Small helpers for the profile tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from builder.errors import ProfileError

REPO = Path(__file__).resolve().parents[2]
PROFILES = REPO / "profiles"

CPU_BODY = """
backend: onnxruntime
model:
  yaml: yolo11n.yaml
precision: fp32
"""


def write_profile(folder: Path, name: str, body: str) -> Path:
    """Write ``<folder>/<name>.yaml`` with ``name: <name>`` followed by ``body`` (dedented)."""
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\n" + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def error_text(error: ProfileError) -> str:
    """The message, the TIP and every field error, one per line."""
    return "\n".join([str(error), f"TIP {error.hint}", *(str(e) for e in error.errors)])

"""INT8 layer precision constraints, as Ultralytics applies them (pure selection; ``trt_calls`` applies it).

Source: ultralytics 8.4.190 ``ultralytics/utils/export/engine.py::onnx2engine`` (PRs #25020/#25920, issue
#24668 "conf compression"). With implicit INT8 calibration, the detection head's Sigmoid layers stay in FP32
(confidence scores keep their calibration) and the head's output convolutions (``….2/Conv``) and DFL convolution
stay in FP16; then ``BuilderFlag.OBEY_PRECISION_CONSTRAINTS`` is set. Only the head (the highest ``/model.N/``)
is constrained: every SiLU in backbone and neck is a Sigmoid too, and constraining those costs INT8 speed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

INT8_HEAD_RULE = (
    "ultralytics onnx2engine: head (/model.<max>/) ACTIVATION layers named *sigmoid* in FP32, head CONVOLUTION "
    "layers ending .2/Conv or under /dfl/ in FP16; OBEY_PRECISION_CONSTRAINTS"
)
OBEY_FLAG = "OBEY_PRECISION_CONSTRAINTS"  # BuilderFlag; STRICT_TYPES before TensorRT 8.2 (not supported here)


@dataclass(frozen=True)
class LayerConstraint:
    """One layer kept out of INT8: ``dtype`` is a ``trt.DataType`` member name ("FLOAT" or "HALF")."""

    index: int
    name: str
    dtype: str


def head_prefix(names: Iterable[str]) -> str:
    """``/model.<N>/`` for the highest module index N in the layer names (the detection head); "/" if none.

    ``re.search``, not ``match``: ultralytics' ``nms=True`` exports prefix every name with ``/model``.
    """
    indices = [int(m.group(1)) for name in names if (m := re.search(r"/model\.(\d+)/", name))]
    return f"/model.{max(indices)}/" if indices else "/"


def select_constraints(layers: Sequence[tuple[str, str]]) -> list[LayerConstraint]:
    """The constraints for a network's layers, given as ``(name, LayerType member name)`` in network order."""
    head = head_prefix(name for name, _ in layers)
    chosen = []
    for index, (name, kind) in enumerate(layers):
        if head not in name:
            continue
        if kind == "ACTIVATION" and "sigmoid" in name.lower():
            chosen.append(LayerConstraint(index, name, "FLOAT"))
        elif kind == "CONVOLUTION" and (name.endswith(".2/Conv") or "/dfl/" in name):
            chosen.append(LayerConstraint(index, name, "HALF"))
    return chosen


def constraints_record(chosen: Sequence[LayerConstraint]) -> dict[str, object]:
    """What the manifest keeps: the rule, the flag (when any layer was constrained) and the layers by dtype."""
    by_dtype: dict[str, list[str]] = {}
    for item in chosen:
        by_dtype.setdefault(item.dtype, []).append(item.name)
    return {"rule": INT8_HEAD_RULE, "flag": OBEY_FLAG if chosen else None, "count": len(chosen), "layers": by_dtype}

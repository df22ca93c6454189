"""NaN / Inf in a model's weights or in its own PyTorch outputs: corrupt weights, said as such.

Without this check, weights holding NaN make the export check report "PyTorch and ONNX Runtime differ"
with a TIP about opsets, sending the user after the wrong cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from builder.errors import ModelError

_HINT = (
    "the weights are corrupt (a damaged file or a diverged training run); use a good checkpoint, "
    "e.g. an earlier epoch's best.pt"
)


def nonfinite_tensors(model: Any) -> list[tuple[str, int]]:
    """``(name, count)`` of every floating-point parameter or buffer holding NaN or Inf values."""
    import torch

    found = []
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        if tensor.is_floating_point():
            count = int((~torch.isfinite(tensor)).sum())
            if count:
                found.append((name, count))
    return found


def refuse_nonfinite_weights(model: Any, source: str) -> None:
    """Raise unless every weight of ``model`` (loaded from ``source``) is finite.

    Raises:
        ModelError: names the tensors holding NaN / Inf and how many values.
    """
    found = nonfinite_tensors(model)
    if found:
        shown = ", ".join(f"{name} ({count})" for name, count in found[:3])
        more = f" and {len(found) - 3} more tensor(s)" if len(found) > 3 else ""
        total = sum(count for _, count in found)
        raise ModelError(f"{source} holds {total} NaN/Inf value(s) in its weights: {shown}{more}", hint=_HINT)


def refuse_nonfinite_outputs(outputs: Sequence[Any], source: str, batch: int) -> None:
    """Raise when the model's own FP32 PyTorch outputs (numpy arrays) hold NaN / Inf on a finite input.

    Raises:
        ModelError: finite weights that still overflow (e.g. absurdly large values): the weights, not the export.
    """
    import numpy as np

    total = sum(int((~np.isfinite(array)).sum()) for array in outputs)
    if total:
        raise ModelError(
            f"{source}: the model's own PyTorch outputs hold {total} NaN/Inf value(s) on a finite input "
            f"(batch {batch}), before any export; its weights overflow",
            hint=_HINT,
        )

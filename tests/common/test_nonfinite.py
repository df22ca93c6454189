"""builder/pipeline/stages/nonfinite.py on a real torch module: NaN/Inf weights and outputs named as corrupt weights."""

from __future__ import annotations

import numpy as np
import pytest

from builder.common.nonfinite import nonfinite_tensors, refuse_nonfinite_outputs, refuse_nonfinite_weights
from builder.errors import ModelError

torch = pytest.importorskip("torch")


def _model() -> object:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))


def test_finite_weights_pass() -> None:
    model = _model()
    assert nonfinite_tensors(model) == []
    refuse_nonfinite_weights(model, "best.pt")


def test_nan_and_inf_weights_are_named_with_their_count() -> None:
    model = _model()
    with torch.no_grad():
        model[0].weight[0, 0, 0, :2] = float("nan")
        model[1].running_var[1] = float("inf")
    assert nonfinite_tensors(model) == [("0.weight", 2), ("1.running_var", 1)]
    with pytest.raises(
        ModelError, match=r"best.pt holds 3 NaN/Inf value\(s\) in its weights: 0.weight \(2\), 1.running_var \(1\)"
    ):
        refuse_nonfinite_weights(model, "best.pt")


def test_overflowing_outputs_are_blamed_on_the_weights_not_the_export() -> None:
    refuse_nonfinite_outputs([np.ones((1, 4), np.float32)], "yaml:yolo11n", 1)
    with pytest.raises(ModelError, match="PyTorch outputs hold 1 NaN/Inf value") as caught:
        refuse_nonfinite_outputs([np.array([1.0, np.inf], np.float32)], "checkpoint:best.pt", 2)
    assert "opset" not in (caught.value.hint or "")

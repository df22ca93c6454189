"""Issue 10, item 7: an ultralytics fork that sets CUDA_VISIBLE_DEVICES="" during the CPU export must not
leave the TensorRT build that follows without a GPU. The fork's behaviour (ultralytics 8.3.x
``utils/torch_utils.py::select_device``: ``os.environ["CUDA_VISIBLE_DEVICES"] = "-1"`` for ``device="cpu"``,
which some forks spell ``""``) is reproduced by wrapping the real ``Model.export``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from builder.common.env_guard import preserved_environment
from builder.pipeline.stages import export as export_stage
from builder.profile import Backend
from tests.pipeline.stages.helpers import make_ctx  # sets the no-install / offline environment first
from tests.support import make_profile


def test_restores_set_and_unset_variables_also_on_error() -> None:
    env = {"CUDA_VISIBLE_DEVICES": "1"}
    with preserved_environment(environ=env) as changed:
        env["CUDA_VISIBLE_DEVICES"] = ""
        env["CUDA_DEVICE_ORDER"] = "FASTEST_FIRST"
    assert env == {"CUDA_VISIBLE_DEVICES": "1"} and changed == {
        "CUDA_VISIBLE_DEVICES": "",
        "CUDA_DEVICE_ORDER": "FASTEST_FIRST",
    }
    with pytest.raises(RuntimeError), preserved_environment(environ=env):
        env.pop("CUDA_VISIBLE_DEVICES")
        raise RuntimeError("export failed")
    assert env == {"CUDA_VISIBLE_DEVICES": "1"}


@pytest.mark.slow  # a real export each (wrapped: it is what the test watches)
@pytest.mark.parametrize("before", ["0", None])
def test_the_cpu_export_leaves_cuda_visible_devices_as_it_was(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, before: str | None
) -> None:
    from ultralytics.engine.model import Model

    if before is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", before)
    real_export = Model.export

    def fork_export(self: Model, **kwargs: object) -> object:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""  # what the 8.3-era fork does for device="cpu"
        return real_export(self, **kwargs)

    monkeypatch.setattr(Model, "export", fork_export)
    ctx = make_ctx(make_profile(backend=Backend.TENSORRT, name="trt-env"), tmp_path)
    result = export_stage.run(ctx)
    assert ctx.path(result.artifact("onnx")).is_file()
    assert os.environ.get("CUDA_VISIBLE_DEVICES") == before

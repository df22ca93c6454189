"""Issue 10, item 6: the trt image's numpy must suit TensorRT 8.6's bindings, and its smoke test must touch
TensorRT's numpy interop, not only ``import tensorrt``."""

from __future__ import annotations

import re
import types

import numpy as np
import pytest

from builder.backends.tensorrt.smoke import host_checks
from tests.support import REPO


def _locked(flavour: str) -> dict[str, str]:
    text = (REPO / "requirements" / f"{flavour}.txt").read_text()
    return dict(re.findall(r"^([a-z0-9._-]+)==(\S+) \\$", text, flags=re.M))


def test_trt_lock_keeps_numpy_1_for_tensorrt_86() -> None:
    locked = _locked("trt")
    assert locked["numpy"].split(".")[0] == "1", locked["numpy"]
    # opencv-python-headless 5.x requires numpy 2 (the reason numpy 2.2.6 was locked); 4.10 runs on numpy 1.x
    assert locked["opencv-python-headless"].split(".")[0] == "4"
    assert "numpy==1.26.4" in (REPO / "requirements" / "trt.in").read_text()


def _fake_trt(*, numpy2_broken: bool = False) -> types.SimpleNamespace:
    """The slice of TensorRT the smoke test uses, as ``python/src/infer/pyFoundationalTypes.cpp`` (8.6.1)
    binds it: ``nptype(DataType)`` -> numpy type; ``Weights(ndarray)`` keeps dtype and size."""
    dtypes = {"float32": np.float32, "float16": np.float16, "int8": np.int8, "int32": np.int32, "bool": np.bool_}
    trt = types.SimpleNamespace(__version__="8.6.1", **{name: name for name in dtypes})

    def nptype(dtype: str) -> type:
        return dtypes[dtype]

    class Weights:
        def __init__(self, array: np.ndarray) -> None:
            if numpy2_broken:  # what a binding built for numpy 1.x does with a numpy 2 array
                raise TypeError("__init__(): incompatible constructor arguments")
            self.size, self.dtype = array.size, str(array.dtype)

    trt.nptype, trt.Weights = nptype, Weights
    return trt


def test_smoke_host_checks_pass_on_a_sound_binding_and_fail_on_a_broken_one() -> None:
    lines = host_checks(_fake_trt(), np)
    assert lines[0] == f"numpy {np.__version__}, TensorRT 8.6.1" and "trt.Weights from a numpy array" in lines
    with pytest.raises(TypeError, match="incompatible constructor"):
        host_checks(_fake_trt(numpy2_broken=True), np)


def test_the_image_build_runs_the_smoke_test_for_tensorrt_flavours() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert 'if [ "$FLAVOUR" != cpu ]; then' in dockerfile and "-m builder.backends.tensorrt.smoke" in dockerfile

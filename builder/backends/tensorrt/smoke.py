"""Image smoke test of TensorRT's numpy interop: ``python -m builder.backends.tensorrt.smoke`` (run by the
Dockerfile for the trt flavours, and by ``make test-gpu``).

TensorRT 8.6.1's Python bindings were compiled against numpy 1.x; a numpy 2 in the venv imports fine but breaks
where the bindings touch arrays. So this checks more than ``import tensorrt``: ``trt.nptype`` for every dtype
the builder reads, ``trt.Weights`` from a numpy array (host only, no GPU), and, when a GPU is visible, a tiny
network (input + numpy constant) built, deserialized and run through Polygraphy with a numpy feed.
"""

from __future__ import annotations

import sys
from typing import Any

DTYPES = {"float32": "float32", "float16": "float16", "int8": "int8", "int32": "int32", "bool": "bool_"}


def host_checks(trt: Any, np: Any) -> list[str]:
    """The checks that need no GPU; each returns a line; a failure raises AssertionError/TypeError."""
    lines = [f"numpy {np.__version__}, TensorRT {trt.__version__}"]
    for trt_name, np_name in DTYPES.items():
        got = trt.nptype(getattr(trt, trt_name))
        assert got == getattr(np, np_name), f"trt.nptype(trt.{trt_name}) is {got}, expected numpy.{np_name}"
    lines.append(f"trt.nptype: {', '.join(DTYPES)} map to numpy")
    array = np.arange(6, dtype=np.float32)
    weights = trt.Weights(array)
    assert weights.size == 6 and weights.dtype == trt.float32, f"trt.Weights(numpy) gave size {weights.size}"
    lines.append("trt.Weights from a numpy array")
    return lines


def gpu_check(trt: Any, np: Any) -> str:
    """Build and run ``y = x + c`` (c a numpy constant) on the GPU; compare with numpy."""
    from polygraphy.backend.trt import EngineFromBytes, TrtRunner

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    if int(trt.__version__.split(".")[0]) < 10:
        flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    x = network.add_input("x", trt.float32, (1, 4))
    const = np.array([[0.5, 1.5, -2.0, 4.0]], dtype=np.float32)
    c = network.add_constant((1, 4), trt.Weights(const)).get_output(0)
    y = network.add_elementwise(x, c, trt.ElementWiseOperation.SUM).get_output(0)
    y.name = "y"
    network.mark_output(y)
    plan = builder.build_serialized_network(network, builder.create_builder_config())
    assert plan is not None, "TensorRT could not build the 4-element network"
    feed = np.array([[1.0, 2.0, 3.0, 4.0]], dtype=np.float32)
    with TrtRunner(EngineFromBytes(bytes(plan))) as runner:
        out = runner.infer({"x": feed})["y"]
    assert np.allclose(out, feed + const), f"GPU result {out} != {feed + const}"
    return "GPU: built and ran x + numpy constant, matches numpy"


def main() -> int:
    import numpy as np
    import tensorrt as trt

    from builder.machine.gpu import probe_gpus

    for line in host_checks(trt, np):
        print(f"smoke: {line}")
    probe = probe_gpus()
    print(f"smoke: {gpu_check(trt, np)}" if probe.gpus else "smoke: no GPU visible, skipped the GPU run")
    return 0


if __name__ == "__main__":
    sys.exit(main())

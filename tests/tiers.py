"""The test tiers: which tests are ``slow`` (``make test-all``) and which form the fast loop (``make test``).

A rule, not a list of files, so a new test lands in the right tier without anyone marking it:

- a test that requests a fixture of :data:`HEAVY_FIXTURES` (directly or through another fixture) makes a real
  export or build, or needs a Docker engine or a Ray cluster: :func:`tests.conftest.pytest_collection_modifyitems`
  marks it ``slow``;
- a test marked ``docker`` is ``slow`` too (it builds images or runs containers);
- a test outside the slow tier that completes a real ONNX export anyway in this process
  (``builder.pipeline.stages.export.run``, which every real build goes through) fails, naming the fix
  (:func:`guard_export`): the fast tier cannot grow an in-process build unnoticed. A build in a subprocess (the CLI)
  is out of its sight: such a test requests ``published_tiny`` or is marked ``slow`` by hand.

A new fixture that builds or exports for real belongs in :data:`HEAVY_FIXTURES`; tests/test_tiers.py checks that every
name here is still a fixture.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

#: fixtures that make a real export or build, or start a Docker engine, image or Ray cluster (by name: pytest
#: resolves names per folder, and each of these names means a real build wherever it is defined)
HEAVY_FIXTURES = frozenset(
    {
        "published_tiny",  # tests/conftest.py: the session's one published tiny build (the CLI, bare)
        "tiny_cpu_build",  # tests/ops/conftest.py: its build folder
        "exported",  # tests/pipeline/stages/conftest.py: a real ONNX export
        "built",  # tests/pipeline/stages/conftest.py: that export built for ONNX Runtime
        "dynamic",  # tests/pipeline/stages/test_dynamic_batch.py: a dynamic-batch export and build
        "static_onnx",  # tests/backends/tensorrt/conftest.py: exports for the TensorRT tests
        "dynamic_onnx",
        "yolo11n_node_names",  # tests/backends/test_ort_quantize.py: a YOLO11n export
        "checkpoint",  # tests/pipeline/stages/test_export.py: a real checkpoint saved by ultralytics
        "two_builds",  # tests/test_build_cli.py: two more CLI builds (byte-for-byte determinism)
        "node_build",  # tests/farm/test_receive.py: a real build to receive
        "build_dir",  # tests/fixture_trainer/test_profile_build.py: the shipped cpu-fp32-shapes profile, built
        "models_dir",  # tests/accuracy/conftest.py: the calibration and val images of the shipped INT8 profile
        "val_split",  # tests/fixture_trainer/conftest.py: the fixture model's val split, regenerated (for mAP runs)
        "embedded",  # tests/pipeline/stages/test_nms_outputs.py: exports with embedded NMS / YOLO26's end-to-end head
        "end2end",
        "farm_cluster",  # tests/farm/conftest.py: a local Ray cluster
        "docker_engine",  # tests/e2e/conftest.py: the real Docker engine, its images
        "cpu_image",
    }
)

#: markers that put a test in the slow tier whatever its fixtures
HEAVY_MARKERS = ("docker",)


def heavy_reasons(item: pytest.Item) -> list[str]:
    """Why ``item`` belongs to the slow tier (empty: the fast tier)."""
    reasons = [f"fixture {name}" for name in sorted(set(getattr(item, "fixturenames", ())) & HEAVY_FIXTURES)]
    return reasons + [f"marker {name}" for name in HEAVY_MARKERS if item.get_closest_marker(name)]


def mark_slow(items: list[pytest.Item]) -> None:
    """Mark ``slow`` every item :func:`heavy_reasons` finds heavy."""
    for item in items:
        if heavy_reasons(item) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)


_CURRENT: list[pytest.Item] = []  # the test being set up, run or torn down


@contextmanager
def running(item: pytest.Item) -> Iterator[None]:
    _CURRENT.append(item)
    try:
        yield
    finally:
        _CURRENT.pop()


def guard_export(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real`` (``export_onnx.run``), failing the fast-tier test in which it completes an export (an export that
    fails early, e.g. on a missing checkpoint, is what some fast tests check: it passes through)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        item = _CURRENT[-1] if _CURRENT else None
        if item is not None and not item.get_closest_marker("slow"):
            pytest.fail(
                f"{item.nodeid} ran a real ONNX export but is in the fast tier (make test): take the export from a "
                f"fixture of tests/tiers.py HEAVY_FIXTURES (a new one belongs there), or mark the test "
                f"@pytest.mark.slow",
                pytrace=False,
            )
        return result

    run.__wrapped__ = real  # type: ignore[attr-defined]
    return run

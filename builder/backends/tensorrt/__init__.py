"""TensorRT backend: ONNX -> raw TensorRT plan on TensorRT 8.6 and 10.x (FP32 also on 11.x).

Module map: ``versions`` (version gates), ``settings`` (profile -> builder settings, by name), ``target``
(GPU checks), ``host`` (what this machine has), ``onnx_facts``, ``timing_cache``, ``calibration``,
``errors`` (TensorRT failures -> EngineBuildError), ``engine_files`` (plan / Ultralytics engine / layers),
``trtexec`` and ``latency`` (benchmarking); ``trt_calls`` is the only module that calls TensorRT. Nothing heavy is
imported with this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from builder.machine.gpu import GpuProbe
from builder.pipeline.stage_types import BuildResult, StageContext, StageResult
from builder.profile import Profile

if TYPE_CHECKING:
    from builder.backends.tensorrt.host import TrtHost

NAME = "tensorrt"


def check_available(profile: Profile, gpus: GpuProbe | None = None) -> TrtHost:
    """TensorRT version, GPU(s) (from ``gpus``, else discovered here), target match; ``facts()`` for the manifest.

    Raises:
        HostEnvironmentError: TensorRT or a GPU is missing (both named), the TensorRT version cannot build
            this profile (e.g. FP16/INT8 on 11.x), or the GPU is not the profile's target.
        ProfileError: ``ampere_plus`` with a pre-Ampere target.
    """
    from builder.backends.tensorrt.host import tensorrt_host

    return tensorrt_host(profile, probe=gpus)


def build(ctx: StageContext, onnx_path: Path) -> StageResult:
    """Build ``model.plan`` (kind ``model``), ``layers.json`` and the optional extra files; see ``plan``."""
    from builder.backends.tensorrt.plan import engine_from_onnx

    return engine_from_onnx(ctx, onnx_path)


def make_runner(artifact: Path, profile: Profile) -> Any:
    """A Polygraphy ``TrtRunner`` for a plan (an Ultralytics ``.engine`` is accepted: its header is skipped)."""
    from builder.backends.tensorrt.engine_files import read_plan
    from builder.backends.tensorrt.trt_calls import trt_runner

    return trt_runner(read_plan(artifact))


def benchmark(ctx: StageContext, build: BuildResult) -> Mapping[str, Any]:
    """Latency p50/p90/p99 (ms), throughput (img/s) and ``method`` ("trtexec" or "polygraphy-trtrunner")."""
    from builder.backends.tensorrt.latency import benchmark_plan

    return benchmark_plan(ctx, build)

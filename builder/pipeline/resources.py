"""What a build will cost, estimated from its profile before any stage runs, and refused when this host cannot pay.

The cost grows with the pixels of the passes a build makes. The export traces the model at the largest batch
(``batch.max`` when dynamic, else ``batch.opt``) and checks it; the verify stage runs the reference and the
artifact on every random input and image at that batch; the benchmark repeats the static batch. The formulas::

    hw      = height * width;  B = largest batch
    k       = flop_factor * (2 / cpu_count) * hw
    verify  = 2 * (random_inputs + len(images)) * B                                   (images through a model)
    bench   = k * INFER_S_PER_PIXEL * (warmup + iterations) * batch.opt, and with benchmark.budget_s > 0 at most
              budget_s + k * INFER_S_PER_PIXEL * min(iterations, ROUNDS) * batch.opt (it stops at its budget)
    memory  = BASE_BYTES + BYTES_PER_PIXEL * memory_factor * B * hw
    seconds = BASE_SECONDS + k * (EXPORT_S_PER_PIXEL + EXPORT_BATCH_S_PER_PIXEL * (B - 1)
                                  + INFER_S_PER_PIXEL * verify) + bench

Calibrated with bare ``cpu-fp32`` builds of YOLO11n on this project's 2-core, shared test machine (peak RSS from
``/usr/bin/time -f %M``, each stage's wall time; docs/dev/faults.md has the table): imgsz 64, 128, 256, 384 and 1024
at batch 1, dynamic batch max 8 at 128 and max 4 at 256. The export costs a fixed ~14 s plus 1.6e-5 s per pixel;
an inference pass 1.3e-6 (benchmark) to 3e-6 (verify) s per pixel; the peak grows by 265 bytes per pixel of the
largest forward up to 1024x1024, and issue 11's imgsz-4096 build peaked at 9.4 GB (530 bytes per pixel): the
estimate uses 530, so it errs on the large side. Its ">5 min" export of dynamic batch 256 at 640 sets the per-batch
export term. Larger models scale by their FLOPs (time) and channel width (memory): the ``n``/``s``/``m``/``l``/``x``
letter of a model YAML, or, for a checkpoint, its file size against YOLO11n's. A TensorRT engine build on the GPU
is not in the estimate (the CPU-side stages are).

A build whose estimate is more than the memory this host (or its cgroup) has available, or more than
:data:`MAX_SECONDS`, is refused before any stage runs (exit 3) with the estimate; ``--allow-large`` runs it anyway.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builder.errors import HostEnvironmentError
from builder.timing.sampling import ROUNDS

BASE_BYTES = 510 << 20  # python, torch, ultralytics, onnxruntime loaded, a 64x64 model traced
BYTES_PER_PIXEL = 530  # peak bytes per pixel of the largest forward pass (YOLO11n, fp32)
BASE_SECONDS = 14.0  # imports, export and checks of a 64x64 model, 2 cores
EXPORT_S_PER_PIXEL = 1.6e-5  # the export and its check, per pixel of imgsz (2 shared cores, YOLO11n)
EXPORT_BATCH_S_PER_PIXEL = 4e-6  # each image of batch beyond the first traced by the export
INFER_S_PER_PIXEL = 2e-6  # one image through a model in verify or benchmark
MAX_SECONDS = 20 * 60  # a longer estimate needs --allow-large
#: relative to YOLO11n (ultralytics' YOLO11 table: 6.5 / 21.5 / 68.0 / 86.9 / 194.9 GFLOPs; widths .25/.5/1/1/1.5)
FLOP_FACTOR = {"n": 1.0, "s": 3.3, "m": 10.5, "l": 13.4, "x": 30.0}
MEMORY_FACTOR = {"n": 1.0, "s": 2.0, "m": 4.0, "l": 4.0, "x": 6.0}
NANO_CHECKPOINT_BYTES = 5_500_000  # yolo11n.pt


@dataclass(frozen=True)
class Estimate:
    """The estimated peak memory and wall time of one build, and the numbers they came from."""

    peak_bytes: int
    seconds: float
    largest_forward: str  # e.g. "batch 256 x 640x640"
    model_scale: str  # e.g. "yolo11n.yaml (n)"

    def describe(self) -> str:
        return (
            f"about {_gib(self.peak_bytes)} of memory and {_duration(self.seconds)} "
            f"({self.largest_forward}, {self.model_scale})"
        )


def estimate_build(profile: Any, *, models_dir: Path | None = None, cpu_count: int | None = None) -> Estimate:
    """The estimate for ``profile`` (a :class:`builder.profile.model.Profile`) on a host with ``cpu_count`` cores."""
    height, width = profile.imgsz
    largest = profile.batch.max if profile.dynamic else profile.batch.opt
    flops, memory, scale = _model_factors(profile, models_dir)
    verify_passes = 2 * (profile.verify.random_inputs + len(profile.verify.images)) * largest
    bench = profile.benchmark
    cores = max(1, cpu_count or os.cpu_count() or 1)
    scale_s = flops * (2 / cores) * height * width  # seconds per (second per pixel)
    per_pixel = EXPORT_S_PER_PIXEL + EXPORT_BATCH_S_PER_PIXEL * (largest - 1) + INFER_S_PER_PIXEL * verify_passes
    bench_s = scale_s * INFER_S_PER_PIXEL * (bench.warmup + bench.iterations) * profile.batch.opt
    if bench.budget_s > 0:  # it stops at its budget (warm-up included), after at least ROUNDS timed runs
        least_s = scale_s * INFER_S_PER_PIXEL * min(bench.iterations, ROUNDS) * profile.batch.opt
        bench_s = min(bench_s, bench.budget_s + least_s)
    seconds = BASE_SECONDS + scale_s * per_pixel + bench_s
    peak = BASE_BYTES + int(BYTES_PER_PIXEL * memory * largest * height * width)
    return Estimate(peak, seconds, f"batch {largest} x {height}x{width}", scale)


def check_fits_host(profile: Any, *, allow_large: bool, models_dir: Path | None = None) -> Estimate:
    """Refuse a build this host cannot hold in memory or that would run longer than :data:`MAX_SECONDS`.

    Raises:
        HostEnvironmentError: the estimate exceeds available memory or the time limit, and not ``allow_large``.
    """
    estimate = estimate_build(profile, models_dir=models_dir)
    available = available_memory()
    too_big = available is not None and estimate.peak_bytes > available
    too_long = estimate.seconds > MAX_SECONDS
    if allow_large or not (too_big or too_long):
        return estimate
    why = (
        f"more than the {_gib(available)} of memory available here"
        if too_big and available is not None
        else f"longer than the {_duration(MAX_SECONDS)} a build may take without --allow-large"
    )
    raise HostEnvironmentError(
        f"profile {profile.name}: the build would need {estimate.describe()}, {why}; nothing was started",
        hint="lower imgsz or batch.max in the profile, or pass --allow-large to build it anyway",
    )


def available_memory() -> int | None:
    """Bytes this process can still get: ``MemAvailable``, capped by the cgroup (v2) limit; None when unknown."""
    found = []
    try:
        match = re.search(r"^MemAvailable:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        if match:
            found.append(int(match.group(1)) * 1024)
    except OSError:
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            found.append(int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text().strip()))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def _model_factors(profile: Any, models_dir: Path | None) -> tuple[float, float, str]:
    model = profile.model
    if getattr(model, "yaml", None):
        match = re.search(r"([nsmlx])(?:-\w+)?\.ya?ml$", str(model.yaml))
        letter = match.group(1) if match else "n"
        return FLOP_FACTOR[letter], MEMORY_FACTOR[letter], f"{model.yaml} ({letter})"
    checkpoint = Path(str(model.checkpoint))
    path = checkpoint if checkpoint.is_absolute() or models_dir is None else models_dir / checkpoint
    try:
        ratio = max(1.0, path.stat().st_size / NANO_CHECKPOINT_BYTES)
    except OSError:
        ratio = 1.0
    return ratio, ratio**0.5, f"{checkpoint.name} ({ratio:.1f}x YOLO11n's size)"


def _gib(size: int | None) -> str:
    return "?" if size is None else f"{size / (1 << 30):.1f} GiB"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"

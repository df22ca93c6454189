"""INT8 against FP32 on CPU, side by side in one run: latency ratio and mAP drop (the trained fixture, imgsz 256).

Both builds are bare ``python -m builder build`` runs of the fixture with the same ``accuracy`` gate (the whole val
split), so the evaluate stage scores each against the same FP32 reference; latency is each build's benchmark stage
(ONNX Runtime, batch 1, seeded random input, this machine's default thread count).
"""

from __future__ import annotations

import shutil

from bench.measure import REPO, Workspace, latest_manifest, run_builder
from bench.workloads import Results, Verdict

CALIBRATION_IMAGES = 64  # profiles/cpu-int8.yaml: int8.samples
GATE = "accuracy: {data: fixtures/shapes/data.yaml, split: val, max_map_drop: 0.01}\n"
ITERATIONS = "benchmark: {warmup: 20, iterations: 200}\n"
PROFILES = {
    "bench-shapes-fp32": "name: bench-shapes-fp32\nextends: cpu-fp32-shapes\n" + GATE + ITERATIONS,
    "bench-shapes-int8": "name: bench-shapes-int8\nextends: cpu-int8\n" + ITERATIONS,
}
RATIO_TARGET = 1.5  # issue 13: INT8 at least 1.5x faster on a CPU with VNNI
DROP_TARGET = 0.01  # ... and at most one mAP50-95 point lost


def prepare(ws: Workspace) -> None:
    """The fixture checkpoint and its data set (val, and the first train images for calibration) under models/."""
    from builder.fixtures.shapes import ShapesSpec, generate

    fixtures = ws.root / "models" / "fixtures"
    fixtures.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "models" / "fixtures" / "shapes-yolo11n.pt", fixtures)
    generate(fixtures / "shapes", ShapesSpec(train=CALIBRATION_IMAGES), splits=("train", "val"))


def int8_vs_fp32(ws: Workspace, results: Results) -> None:
    prepare(ws)
    found = {}
    for name in PROFILES:
        run_builder(["build", "--profile", name, *ws.args(name)], ws.root, ws.env()).check()
        manifest = latest_manifest(ws.root / name, name)
        stages = {s["name"]: s for s in manifest["stages"]}
        found[name] = (stages["benchmark"]["details"], stages["evaluate"]["details"])
    (fp32_bench, _), (int8_bench, int8_eval) = found["bench-shapes-fp32"], found["bench-shapes-int8"]
    ratio = fp32_bench["latency_ms"]["p50"] / int8_bench["latency_ms"]["p50"]
    drop = int8_eval["map50_95_drop"]
    results.raw["int8 p50 ms"], results.raw["fp32 p50 ms"] = (
        [int8_bench["latency_ms"]["p50"]],
        [fp32_bench["latency_ms"]["p50"]],
    )
    results.verdicts.append(
        Verdict(
            "cpu-int8 vs cpu-fp32 latency (fixture, 256, batch 1)",
            f"{ratio:.2f}x faster (p50 {int8_bench['latency_ms']['p50']:.2f} vs "
            f"{fp32_bench['latency_ms']['p50']:.2f} ms)",
            f">= {RATIO_TARGET}x",
            ratio >= RATIO_TARGET,
            "ONNX Runtime benchmark stage of each build, same run",
        )
    )
    results.verdicts.append(
        Verdict(
            "cpu-int8 mAP50-95 drop vs FP32 reference (fixture val, 100 images)",
            f"{drop:+.4f} ({int8_eval['artifact']['map50_95']:.4f} vs {int8_eval['reference']['map50_95']:.4f})",
            f"<= {DROP_TARGET}",
            drop <= DROP_TARGET,
            "the evaluate stage's gate numbers",
        )
    )

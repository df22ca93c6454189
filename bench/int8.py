"""INT8 against FP32 on CPU, side by side in one run: latency ratio and mAP drop (the trained fixture).

Each pair is two bare ``python -m builder build`` runs of the shipped fixture (models/fixtures), FP32 and cpu-int8
(QDQ, head decode in float), built one after the other in the same run; latency is each build's benchmark stage
(ONNX Runtime, batch 1, seeded random input, this machine's default thread count, 10 s budget). At 256 (the
fixture's size) both builds carry the accuracy gate on the whole val split, so the evaluate stage scores each
against the same FP32 reference: that is the mAP drop. At 640 (YOLO11n's usual size, where convolutions dominate)
only latency is compared (the fixture was trained at 256).
"""

from __future__ import annotations

import shutil

from bench.measure import REPO, Workspace, latest_manifest, run_builder
from bench.workloads import Results, Verdict

GATE = "accuracy: {data: fixtures/shapes/data.yaml, split: val, max_map_drop: 0.01}\n"
TIMING = "benchmark: {warmup: 20, iterations: 100000, budget_s: 10}\n"
AT_640 = "imgsz: 640\naccuracy: null\n"
PROFILES = {
    "bench-shapes-fp32": "name: bench-shapes-fp32\nextends: cpu-fp32-shapes\n" + GATE + TIMING,
    "bench-shapes-int8": "name: bench-shapes-int8\nextends: cpu-int8\n" + GATE + TIMING,
    "bench-shapes-fp32-640": "name: bench-shapes-fp32-640\nextends: cpu-fp32-shapes\n" + AT_640 + TIMING,
    "bench-shapes-int8-640": "name: bench-shapes-int8-640\nextends: cpu-int8\n" + AT_640 + TIMING,
}
RATIO_TARGET = 1.5  # issue 13: INT8 at least 1.5x faster on a CPU with VNNI
DROP_TARGET = 0.01  # ... and at most one mAP50-95 point lost


def prepare(ws: Workspace) -> None:
    """The fixture checkpoint and its shipped data set (val, and the calibration images) under models/."""
    shutil.copytree(REPO / "models" / "fixtures", ws.root / "models" / "fixtures", dirs_exist_ok=True)


def int8_vs_fp32(ws: Workspace, results: Results) -> None:
    prepare(ws)
    found = {}
    for name in PROFILES:
        run_builder(["build", "--profile", name, *ws.args(name)], ws.root, ws.env()).check()
        manifest = latest_manifest(ws.root / name, name)
        stages = {s["name"]: s for s in manifest["stages"]}
        found[name] = (stages["benchmark"]["details"], stages.get("evaluate", {}).get("details"))
    for size, suffix in (("256", ""), ("640", "-640")):
        fp32, int8 = found[f"bench-shapes-fp32{suffix}"][0], found[f"bench-shapes-int8{suffix}"][0]
        fp32_p50, int8_p50 = fp32["latency_ms"]["p50"], int8["latency_ms"]["p50"]
        results.raw[f"int8 p50 ms @{size}"], results.raw[f"fp32 p50 ms @{size}"] = [int8_p50], [fp32_p50]
        results.verdicts.append(
            Verdict(
                f"cpu-int8 vs FP32 latency (fixture, {size}, batch 1)",
                f"{fp32_p50 / int8_p50:.2f}x faster (p50 {int8_p50:.2f} vs {fp32_p50:.2f} ms; "
                f"{int8.get('samples', '?')} / {fp32.get('samples', '?')} runs)",
                f">= {RATIO_TARGET}x",
                fp32_p50 / int8_p50 >= RATIO_TARGET,
                "ONNX Runtime benchmark stage of each build, same run",
            )
        )
    int8_eval = found["bench-shapes-int8"][1]
    drop = int8_eval["map50_95_drop"]
    results.verdicts.append(
        Verdict(
            "cpu-int8 mAP50-95 drop vs FP32 reference (fixture val, 100 images)",
            f"{drop:+.4f} ({int8_eval['artifact']['map50_95']:.4f} vs {int8_eval['reference']['map50_95']:.4f})",
            f"<= {DROP_TARGET}",
            drop <= DROP_TARGET,
            "the evaluate stage's gate numbers",
        )
    )

"""INT8 against FP32 on CPU for every non-detect task, side by side in one run: the task metric's drop and speed.

Per task (segment, pose, obb, classify) two bare ``python -m builder build`` runs of the shipped profiles on the task's
trained fixture (models/fixtures): ``cpu-fp32-<task>`` and ``cpu-int8-<task>`` (QDQ with the task's head rule in
float: docs/tasks.md). Each build's evaluate stage scores its artifact against the same FP32 reference (the exported
ONNX in ONNX Runtime) with the task's own validator metric: mask mAP50-95, pose (OKS) mAP50-95, OBB mAP50-95, top-1
accuracy; the INT8 build's drop is that metric's. The gate is opened (drop 1.0, no floor) so every build publishes
and the verdict judges the drop against the shipped INT8 profile's own ``accuracy.max_map_drop``. Speed: the two
published models are timed interleaved in one process (:func:`bench.int8.interleaved_p50`: ONNX Runtime, batch 1,
seeded random input at the profile's size), each build's own benchmark stage kept as a second opinion.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from bench.int8 import TIMING, interleaved_p50
from bench.measure import REPO, Workspace, latest_manifest, run_builder
from bench.workloads import Results, Verdict

TASKS = ("segment", "pose", "obb", "classify")
OPEN_GATE = "accuracy: {max_map_drop: 1.0, min_map50_95: null%s}\n"
SPEED_TARGET = 1.0  # INT8 must at least be faster than FP32; issue 18 asks the ratio measured, names no number


@dataclass(frozen=True)
class TaskBuild:
    task: str
    kind: str  # fp32 | int8

    @property
    def shipped(self) -> str:
        return f"cpu-{self.kind}-{self.task}"

    @property
    def name(self) -> str:
        return f"bench-{self.task}-{self.kind}"


def profiles(tasks: tuple[str, ...] = TASKS, samples: int | None = None) -> dict[str, str]:
    """The bench profiles: each shipped one with the gate opened and the benchmark's timing (``samples``: score the
    first N images of the split only, for a small-scale run)."""
    limit = "" if samples is None else f", samples: {samples}"
    return {
        build.name: f"name: {build.name}\nextends: {build.shipped}\n" + OPEN_GATE % limit + TIMING
        for task in tasks
        for build in (TaskBuild(task, "fp32"), TaskBuild(task, "int8"))
    }


def task_int8_vs_fp32(ws: Workspace, results: Results, tasks: tuple[str, ...] = TASKS) -> None:
    """Build, then time interleaved, each task's FP32 and INT8 profile; one verdict row per task."""
    shutil.copytree(REPO / "models" / "fixtures", ws.root / "models" / "fixtures", dirs_exist_ok=True)
    for task in tasks:
        fp32, int8 = (_built(ws, TaskBuild(task, kind)) for kind in ("fp32", "int8"))
        size = int(fp32["imgsz"])
        fp32_ms, int8_ms = interleaved_p50([fp32["model"], int8["model"]], size)
        for kind, ms, found in (("fp32", fp32_ms, fp32), ("int8", int8_ms, int8)):
            results.raw[f"{task} {kind} interleaved p50 ms @{size}"] = [ms]
            results.raw[f"{task} {kind} benchmark-stage p50 ms @{size}"] = [found["bench"]["latency_ms"]["p50"]]
        results.verdicts.append(verdict(task, size, fp32_ms, int8_ms, int8["eval"], int8["max_map_drop"]))


def verdict(task: str, size: int, fp32_ms: float, int8_ms: float, evaluate: dict[str, Any], max_drop: float) -> Verdict:
    """The row of one task: speed ratio of the interleaved p50s, the drop of the task's metric (the INT8 build's
    evaluate stage: reference = the FP32 export on the same split) against the shipped profile's allowed drop."""
    metric, key = evaluate["metric"], "top1" if task == "classify" else "map50_95"
    drop, reference = evaluate["map50_95_drop"], evaluate["reference"][key]
    ratio = fp32_ms / int8_ms
    return Verdict(
        f"cpu-int8-{task} vs cpu-fp32-{task} (fixture, {size}, batch 1)",
        f"{ratio:.2f}x faster (p50 {int8_ms:.2f} vs {fp32_ms:.2f} ms), {metric} drop {drop:+.4f} "
        f"(reference {reference:.4f}, {evaluate['artifact']['images']} images)",
        f"> {SPEED_TARGET:g}x, drop <= {max_drop:g} (cpu-int8-{task}'s accuracy.max_map_drop)",
        ratio > SPEED_TARGET and drop <= max_drop,
        "interleaved timing of the published models; the INT8 build's evaluate stage (the task's own metric)",
    )


def _built(ws: Workspace, build: TaskBuild) -> dict[str, Any]:
    """Build ``build`` in the workspace; its published model, manifest numbers and the shipped profile's gate."""
    from builder.profile import load_profile

    run_builder(["build", "--profile", build.name, *ws.args(build.name)], ws.root, ws.env(), timeout=3600).check()
    manifest = latest_manifest(ws.root / build.name, build.name)
    stages = {s["name"]: s for s in manifest["stages"]}
    shipped = load_profile(build.shipped, REPO / "profiles")
    assert shipped.accuracy is not None
    return {
        "bench": stages["benchmark"]["details"],
        "eval": stages["evaluate"]["details"],
        "imgsz": shipped.imgsz[0],
        "max_map_drop": shipped.accuracy.max_map_drop,
        "model": ws.root / build.name / build.name / "latest" / "model.ort.onnx",
    }
